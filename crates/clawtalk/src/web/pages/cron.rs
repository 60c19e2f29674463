//! `/cron`: the scheduled tasks, as `clawtalk cron list --all` shows them (targets without
//! their webhook tokens).

use axum::Form;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::Redirect;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::error_page_in;
use crate::web::St;
use crate::web::i18n::{Lang, t, tf};
use crate::web::layout::page_in;
use crate::web::sessions::WebSession;
use clawtalk_agent::cron::Schedule;
use clawtalk_agent::cron::request::next_run_text;
use clawtalk_core::mask::mask_text;
use clawtalk_store::CronStatus;

pub(crate) async fn page_handler(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Query(done): Query<Done>,
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
    let body = html! {
        h1 { (t(lang, "cron.title")) }
        @if let Some(id) = done.run { p.notice { (tf(lang, "cron.run_requested", &[("id", &id.to_string())])) } }
        @if let Some(id) = done.deleted { p.notice { (tf(lang, "cron.deleted", &[("id", &id.to_string())])) } }
        @if let Some(e) = &done.error { p.error { (e) } }
        @if tasks.is_empty() {
            p.muted { (t(lang, "cron.none")) }
        } @else {
            table {
                thead { tr {
                    th { (t(lang, "cron.id")) } th { (t(lang, "cron.name")) } th { (t(lang, "cron.schedule")) }
                    th { (t(lang, "cron.next")) } th { (t(lang, "cron.target")) }
                    th { (t(lang, "cron.agent")) } th { (t(lang, "cron.status")) } th { (t(lang, "cron.last")) } th {}
                } }
                tbody {
                    @for task in &tasks {
                        @let schedule = Schedule::stored(task.spec.kind, &task.spec.schedule, &task.spec.timezone).ok();
                        tr data-task=(task.id) {
                            td { (task.id) }
                            td { (task.spec.name) }
                            td { (schedule.as_ref().map_or_else(|| t(lang, "cron.unusable").to_owned(), Schedule::describe)) }
                            td { (schedule.as_ref().map_or_else(|| "-".to_owned(), |s| next_run_text(s, task.next_run_at_ms))) }
                            td { (task.spec.target.describe()) }
                            td { (task.spec.account_id) "/" (task.spec.agent_id) }
                            td { (task.status) }
                            td { (last_run(task.last_status, task.last_error.as_deref())) }
                            td {
                                @if task.status == CronStatus::Active {
                                    form method="post" action="/cron/action" {
                                        input type="hidden" name="csrf" value=(session.csrf);
                                        input type="hidden" name="id" value=(task.id);
                                        button type="submit" name="action" value="run" { (t(lang, "cron.run_now")) }
                                        " "
                                        button.secondary type="submit" name="action" value="delete" { (t(lang, "cron.delete")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page_in(lang, t(lang, "cron.title"), "/cron", Some(&session.csrf), &body).into_response()
}

/// What the last button did, for the notice above the table.
#[derive(Deserialize, Default)]
pub(crate) struct Done {
    run: Option<i64>,
    deleted: Option<i64>,
    error: Option<String>,
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

/// `POST /cron/action`: run a task now or delete it, as `clawtalk cron run-now|rm` do.
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
        other => {
            return error_page_in(
                lang,
                StatusCode::BAD_REQUEST,
                &session.csrf,
                &format!("unknown action {other:?}: use the Run now or Delete button"),
            );
        }
    };
    match result {
        Ok(Some(task)) => {
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
