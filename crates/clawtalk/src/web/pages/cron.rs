//! `/cron`: the scheduled tasks, as `clawtalk cron list --all` shows them (targets without
//! their webhook tokens), with their buttons (run now, pause, resume, delete) and the form
//! that creates one ([`super::cron_form`]).

use axum::Form;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::Redirect;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::cron_form::{self, FieldErrors, TaskForm};
use super::error_page_in;
use crate::web::i18n::{Lang, t, tf};
use crate::web::layout::{page_in, utc};
use crate::web::sessions::WebSession;
use crate::web::{St, WebState};
use clawtalk_agent::cron::Schedule;
use clawtalk_agent::cron::request::next_run_text;
use clawtalk_core::clock::EpochMs;
use clawtalk_core::mask::mask_text;
use clawtalk_store::{CronStatus, CronStore, CronTask, StoreResult};

pub(crate) async fn page_handler(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Query(done): Query<Done>,
) -> Response {
    let config = web.gateway.config();
    let form = TaskForm::blank(&config);
    render(&web, &session, lang, &done, &form, &FieldErrors::new()).await
}

/// The task list and the form (filled with `form`, refusals in `errors`).
async fn render(
    web: &WebState,
    session: &WebSession,
    lang: Lang,
    done: &Done,
    form: &TaskForm,
    errors: &FieldErrors,
) -> Response {
    let tasks = match web.gateway.store().cron_list(true).await {
        Ok(tasks) => tasks,
        Err(e) => {
            return error_page_in(
                lang,
                StatusCode::INTERNAL_SERVER_ERROR,
                &session.csrf,
                &format!("cannot read the scheduled tasks: {e}"),
            );
        }
    };
    let config = web.gateway.config();
    let body = html! {
        h1 { (t(lang, "cron.title")) }
        @for (key, id) in done.notices() { p.notice { (tf(lang, key, &[("id", &id.to_string())])) } }
        @if let Some(e) = &done.error { p.error { (e) } }
        @if tasks.is_empty() {
            p.muted { (t(lang, "cron.none")) }
        } @else {
            table #cron-tasks {
                thead { tr {
                    th { (t(lang, "cron.id")) } th { (t(lang, "cron.name")) } th { (t(lang, "cron.schedule")) }
                    th { (t(lang, "cron.next")) } th { (t(lang, "cron.target")) }
                    th { (t(lang, "cron.agent")) } th { (t(lang, "cron.status")) } th { (t(lang, "cron.last")) } th {}
                } }
                tbody {
                    @for task in &tasks { (task_row(lang, &session.csrf, task)) }
                }
            }
        }
        h2 { (t(lang, "cron.form.title")) }
        @if config.enabled_accounts().next().is_none() {
            p.muted { (t(lang, "cron.form.no_account")) }
        } @else {
            (cron_form::view(lang, &session.csrf, &config, form, errors))
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (
        status,
        page_in(lang, t(lang, "cron.title"), "/cron", Some(&session.csrf), &body),
    )
        .into_response()
}

fn task_row(lang: Lang, csrf: &str, task: &CronTask) -> Markup {
    let schedule = Schedule::stored(task.spec.kind, &task.spec.schedule, &task.spec.timezone).ok();
    let paused = task.status == CronStatus::Active && task.paused_at_ms.is_some();
    let status = if paused {
        t(lang, "cron.paused").to_owned()
    } else {
        task.status.to_string()
    };
    html! {
        tr data-task=(task.id) {
            td { (task.id) }
            td { (task.spec.name) }
            td { (schedule.as_ref().map_or_else(|| t(lang, "cron.unusable").to_owned(), Schedule::describe)) }
            td {
                @if paused { span.muted { "-" } }
                @else { (schedule.as_ref().map_or_else(|| "-".to_owned(), |s| next_run_text(s, task.next_run_at_ms))) }
            }
            td { (mask_text(&task.spec.target.describe())) }
            td { (task.spec.account_id) "/" (task.spec.agent_id) }
            td.status { (status) }
            td {
                (last_run(task.last_status, task.last_error.as_deref()))
                @if let Some(at) = task.last_run_at_ms { br; span.muted { (utc(at)) } }
                br; span.muted { (tf(lang, "cron.runs", &[("n", &task.runs.to_string())])) }
            }
            td {
                @if task.status == CronStatus::Active {
                    form method="post" action="/cron/action" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="id" value=(task.id);
                        button type="submit" name="action" value="run" { (t(lang, "cron.run_now")) }
                        " "
                        @if paused {
                            button type="submit" name="action" value="resume" { (t(lang, "cron.resume")) }
                        } @else {
                            button.secondary type="submit" name="action" value="pause" { (t(lang, "cron.pause")) }
                        }
                        " "
                        button.secondary type="submit" name="action" value="delete" { (t(lang, "cron.delete")) }
                    }
                }
            }
        }
    }
}

/// What the last button did, for the notice above the table.
#[derive(Deserialize, Default)]
pub(crate) struct Done {
    run: Option<i64>,
    deleted: Option<i64>,
    created: Option<i64>,
    paused: Option<i64>,
    resumed: Option<i64>,
    error: Option<String>,
}

impl Done {
    /// The notices to show: message key and task id.
    fn notices(&self) -> Vec<(&'static str, i64)> {
        [
            ("cron.run_requested", self.run),
            ("cron.deleted", self.deleted),
            ("cron.created", self.created),
            ("cron.paused_notice", self.paused),
            ("cron.resumed_notice", self.resumed),
        ]
        .into_iter()
        .filter_map(|(key, id)| id.map(|id| (key, id)))
        .collect()
    }
}

#[derive(Deserialize)]
pub(crate) struct Action {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    action: String,
}

/// `POST /cron/create`: a new task from the form, or the form again with the refusal at
/// its field.
pub(crate) async fn create(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Form(form): Form<TaskForm>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        return crate::web::auth::csrf_refused();
    }
    let now = web.gateway.now();
    let checked = match form.check(&web.gateway.config(), now) {
        Ok(checked) => checked,
        Err(errors) => {
            let form = form.without_credentials();
            return render(&web, &session, lang, &Done::default(), &form, &errors).await;
        }
    };
    match web.gateway.store().cron_create(checked.task, now).await {
        Ok(task) => {
            web.gateway.cron_changed();
            tracing::info!(task = task.id, "scheduled task created in the web console");
            Redirect::to(&format!("/cron?created={}", task.id)).into_response()
        }
        Err(e) => error_page_in(
            lang,
            StatusCode::INTERNAL_SERVER_ERROR,
            &session.csrf,
            &format!("cannot store the scheduled task: {e}"),
        ),
    }
}

/// `POST /cron/action`: run a task now, pause, resume or delete it (`clawtalk cron
/// run-now|rm` do the first and the last).
pub(crate) async fn action(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Form(form): Form<Action>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        return crate::web::auth::csrf_refused();
    }
    let Ok(id) = form.id.parse::<i64>() else {
        return error_page_in(
            lang,
            StatusCode::BAD_REQUEST,
            &session.csrf,
            &tf(lang, "cron.no_task", &[("id", &form.id)]),
        );
    };
    let store = web.gateway.store();
    let now = web.gateway.now();
    let (result, done) = match form.action.as_str() {
        "run" => (store.cron_run_now(id, now).await, "run"),
        "delete" => (store.cron_cancel(id, now).await, "deleted"),
        "pause" => (store.cron_pause(id, now).await, "paused"),
        "resume" => (resume(store.as_ref(), id, now).await, "resumed"),
        other => {
            return error_page_in(
                lang,
                StatusCode::BAD_REQUEST,
                &session.csrf,
                &format!("unknown action {other:?}: use the Run now, Pause, Resume or Delete button"),
            );
        }
    };
    match result {
        Ok(Some(task)) => {
            web.gateway.cron_changed();
            tracing::info!(
                task = task.id,
                action = done,
                "scheduled task changed in the web console"
            );
            Redirect::to(&format!("/cron?{done}={id}")).into_response()
        }
        Ok(None) => {
            let error = tf(lang, "cron.not_active", &[("id", &id.to_string())]);
            Redirect::to(&format!("/cron?error={}", crate::web::query_value(&error))).into_response()
        }
        Err(e) => error_page_in(
            lang,
            StatusCode::INTERNAL_SERVER_ERROR,
            &session.csrf,
            &format!("cannot change scheduled task #{id}: {e}"),
        ),
    }
}

/// Resumes task `id` from its next scheduled time after now, so the runs skipped while it
/// was paused are neither run nor reported as missed (a one-shot task keeps its time).
async fn resume(store: &dyn CronStore, id: i64, now: EpochMs) -> StoreResult<Option<CronTask>> {
    let Some(task) = store.cron_get(id).await? else {
        return Ok(None);
    };
    let next = Schedule::stored(task.spec.kind, &task.spec.schedule, &task.spec.timezone)
        .ok()
        .filter(Schedule::repeats)
        .and_then(|s| s.next_after(now));
    store.cron_resume(id, next, now).await
}

/// The last run's outcome; an error (a webhook delivery's can quote the URL) is masked.
fn last_run(status: Option<impl std::fmt::Display>, error: Option<&str>) -> String {
    match (status, error) {
        (Some(status), Some(error)) => format!("{status}: {}", mask_text(error)),
        (Some(status), None) => status.to_string(),
        (None, _) => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_run_errors_are_masked() {
        let error =
            "HTTP 400 from https://oapi.dingtalk.com/robot/send?access_token=tok9&timestamp=1&sign=c2ln";
        assert_eq!(
            last_run(Some("failed"), Some(error)),
            "failed: HTTP 400 from https://oapi.dingtalk.com/robot/send?access_token=***&timestamp=1&sign=***"
        );
        assert_eq!(last_run(Some("ok"), None), "ok");
        assert_eq!(last_run(None::<&str>, Some(error)), "-");
    }
}
