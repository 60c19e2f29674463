//! Testing what the user typed against DingTalk before it is saved.

use dingtalk::api::CustomRobotClient;
use dingtalk::model::outbound::WebhookMessage;
use dingtalk::{ApiErrorKind, Endpoints, Secret};
use url::Url;

use super::probe::{Failure, check_app, probe_http_client, unreachable};

use super::plan::Mode;

/// What a connection test found.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// DingTalk accepted; a line saying what was checked.
    Passed(String),
    /// Not tested, and why.
    Skipped(String),
    /// Rejected or unreachable.
    Failed(Failure),
}

/// Stream: access token and a `connections/open` ticket (what the gateway does at start-up,
/// minus the socket). HTTP: the access token (DingTalk calls us, so there is nothing to open).
pub(crate) async fn app(mode: Mode, client_id: &str, secret: &Secret, endpoints: &Endpoints) -> Outcome {
    let http = match probe_http_client() {
        Ok(http) => http,
        Err(e) => return Outcome::Skipped(format!("{e:#}")),
    };
    let stream = mode == Mode::Stream;
    match check_app(&http, client_id, secret, endpoints, stream).await {
        Ok(took) if stream => Outcome::Passed(format!(
            "DingTalk accepted the credentials: access token and Stream ticket issued in {} ms",
            took.as_millis()
        )),
        Ok(took) => Outcome::Passed(format!(
            "DingTalk accepted the credentials: access token issued in {} ms",
            took.as_millis()
        )),
        Err(failure) => Outcome::Failed(failure),
    }
}

/// Posts a signed test message through a Custom Robot webhook. Only on request: it appears in
/// the group for everyone.
pub(crate) async fn robot(webhook_url: &Url, secret: Option<&Secret>) -> Outcome {
    let http = match probe_http_client() {
        Ok(http) => http,
        Err(e) => return Outcome::Skipped(format!("{e:#}")),
    };
    let client = CustomRobotClient::new(http, std::sync::Arc::default());
    let message = WebhookMessage::text("clawtalk: test message from `clawtalk onboard` — the robot works.");
    match client
        .send(webhook_url, secret.map(Secret::expose), &message)
        .await
    {
        Ok(()) => Outcome::Passed("DingTalk accepted the test message; check the group".into()),
        Err(e) => Outcome::Failed(robot_failure(&e, webhook_url)),
    }
}

fn robot_failure(error: &dingtalk::Error, webhook_url: &Url) -> Failure {
    let step = "test message";
    if matches!(error, dingtalk::Error::Transport { .. }) {
        return unreachable(step, &Endpoints::single(webhook_url.clone()), error);
    }
    let (kind, message) = match error.kind() {
        Some(ApiErrorKind::InvalidCredentials) => (
            "wrong_credentials",
            "DingTalk rejected the webhook (unknown access_token or wrong signature); copy the \
             webhook URL and the SEC… secret again from the group's robot settings"
                .to_owned(),
        ),
        Some(ApiErrorKind::SecurityCheckFailed) => (
            "security_check_failed",
            format!(
                "the robot's security check refused the message ({}); check the SEC… signing \
                 secret (or the keyword, or the IP allowlist) in the group's robot settings, \
                 and this machine's clock",
                one_line(error)
            ),
        ),
        // The webhook token is in the URL, which is not part of the error text.
        _ => ("rejected", error.to_string()),
    };
    Failure { step, kind, message }
}

/// DingTalk's refusal reason, without the error's own advice (ours replaces it).
fn one_line(error: &dingtalk::Error) -> String {
    match error {
        dingtalk::Error::Api(api) => format!("code {}: {}", api.code, api.message),
        other => other.to_string(),
    }
}
