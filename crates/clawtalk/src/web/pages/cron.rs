//! `/cron`: the scheduled tasks, as `clawtalk cron list --all` shows them (targets without
//! their webhook tokens).

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::error_page;
use crate::web::St;
use crate::web::layout::page;
use crate::web::sessions::WebSession;
use clawtalk_agent::cron::Schedule;
use clawtalk_agent::cron::request::next_run_text;
use clawtalk_core::mask::mask_text;

pub(crate) async fn page_handler(State(web): St, Extension(session): Extension<WebSession>) -> Response {
    let tasks = match web.gateway.store().cron_list(true).await {
        Ok(tasks) => tasks,
        Err(e) => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &session.csrf,
                &format!("cannot read the scheduled tasks: {e}"),
            );
        }
    };
    let body = html! {
        h1 { "Scheduled tasks" }
        @if tasks.is_empty() {
            p.muted { "No scheduled tasks. Ask the agent (\u{201c}every day at 9:00 …\u{201d}) or use clawtalk cron add." }
        } @else {
            table {
                thead { tr {
                    th { "ID" } th { "Name" } th { "Schedule" } th { "Next run" } th { "Target" }
                    th { "Agent" } th { "Status" } th { "Last run" }
                } }
                tbody {
                    @for t in &tasks {
                        @let schedule = Schedule::stored(t.spec.kind, &t.spec.schedule, &t.spec.timezone).ok();
                        tr data-task=(t.id) {
                            td { (t.id) }
                            td { (t.spec.name) }
                            td { (schedule.as_ref().map_or_else(|| "(unusable)".to_owned(), Schedule::describe)) }
                            td { (schedule.as_ref().map_or_else(|| "-".to_owned(), |s| next_run_text(s, t.next_run_at_ms))) }
                            td { (t.spec.target.describe()) }
                            td { (t.spec.account_id) "/" (t.spec.agent_id) }
                            td { (t.status) }
                            td { (last_run(t.last_status, t.last_error.as_deref())) }
                        }
                    }
                }
            }
        }
    };
    page("Scheduled tasks", "/cron", Some(&session.csrf), &body).into_response()
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
