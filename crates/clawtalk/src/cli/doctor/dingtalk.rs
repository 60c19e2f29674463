//! Doctor checks against DingTalk, per enabled account: credentials, the Stream ticket (or
//! just the token for HTTP mode), the API permissions the account's features need, and the
//! clock against DingTalk's.

use std::time::{Duration, SystemTime};

use dingtalk::ids::ClientId;
use dingtalk::token::{TokenCache, TokenFlavor};
use dingtalk::{ApiError, ApiErrorKind};
use reqwest::header::DATE;
use serde_json::json;

use super::Finding;
use crate::cli::common::mode_name;
use crate::onboard::probe::check_app;
use clawtalk_config::{Config, ConnectionMode, DingTalkAccount, MessageType};

/// Skew at which signed callbacks start to be at risk (DingTalk and the gateway compare
/// timestamps) and beyond which they fail (the gateway refuses callbacks older than 1 h).
const SKEW_WARN: Duration = Duration::from_secs(60);
const SKEW_PROBLEM: Duration = Duration::from_secs(30 * 60);

/// A permission and a harmless call that DingTalk refuses for its absence before anything
/// else (the empty body is rejected afterwards as invalid, so nothing is ever sent).
struct PermissionProbe {
    scope: &'static str,
    what: &'static str,
    method: reqwest::Method,
    path: &'static str,
}

fn probes_for(account: &DingTalkAccount) -> Vec<PermissionProbe> {
    let mut probes = vec![PermissionProbe {
        scope: "qyapi_robot_sendmsg",
        what: "sending robot messages",
        method: reqwest::Method::POST,
        path: "/v1.0/robot/oToMessages/batchSend",
    }];
    if account.message_type == MessageType::Card {
        probes.push(PermissionProbe {
            scope: "Card.Instance.Write",
            what: "AI cards (messageType card)",
            method: reqwest::Method::POST,
            path: "/v1.0/card/instances/createAndDeliver",
        });
        if account.streaming {
            probes.push(PermissionProbe {
                scope: "Card.Streaming.Write",
                what: "streaming into AI cards (streaming: true)",
                method: reqwest::Method::PUT,
                path: "/v1.0/card/streaming",
            });
        }
    }
    probes
}

/// All enabled accounts, concurrently.
pub(super) async fn check_accounts(http: &reqwest::Client, config: &Config) -> Vec<Finding> {
    let checks = config.enabled_accounts().map(|a| check_account(http, a));
    let mut findings: Vec<Finding> = futures_util::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect();
    if config.accounts.is_empty() {
        findings.push(Finding::problem(
            "accounts",
            "no DingTalk account is configured; add channels.dingtalk.clientId/clientSecret or set \
             DINGTALK_CLIENT_ID/DINGTALK_CLIENT_SECRET (or run `clawtalk onboard dingtalk`)",
        ));
    }
    findings
}

async fn check_account(http: &reqwest::Client, account: &DingTalkAccount) -> Vec<Finding> {
    let subject = format!("account {}", account.id);
    if account.mode == ConnectionMode::CustomRobot {
        return vec![Finding::ok(
            subject,
            "custom robot (send only through its webhook); nothing to probe",
        )];
    }
    let stream = account.mode == ConnectionMode::Stream;
    if let Err(failure) = check_app(
        http,
        &account.client_id,
        &account.client_secret,
        &account.endpoints,
        stream,
    )
    .await
    {
        return vec![Finding::problem(
            subject,
            format!("{} [{}]: {}", failure.step, failure.kind, failure.message),
        )];
    }
    let mut findings = vec![Finding::ok(
        subject.clone(),
        if stream {
            "credentials accepted and a Stream ticket issued".to_owned()
        } else {
            format!(
                "credentials accepted ({} mode: no Stream ticket needed)",
                mode_name(account.mode)
            )
        },
    )];
    let tokens = TokenCache::builder(
        ClientId::new(account.client_id.clone()),
        account.client_secret.clone(),
    )
    .flavor(TokenFlavor::OpenApi)
    .endpoints(account.endpoints.clone())
    .http_client(http.clone())
    .max_attempts(1)
    .build();
    let token = match tokens.token().await {
        Ok(token) => token,
        Err(error) => {
            findings.push(Finding::problem(subject, format!("access token: {error}")));
            return findings;
        }
    };
    let mut skew_seen = false;
    for probe in probes_for(account) {
        let url = match account.endpoints.api.join(probe.path) {
            Ok(url) => url,
            Err(error) => {
                findings.push(Finding::problem(
                    subject.clone(),
                    format!("bad endpoints.api: {error}"),
                ));
                break;
            }
        };
        let response = http
            .request(probe.method.clone(), url)
            .header("x-acs-dingtalk-access-token", token.as_str())
            .json(&json!({}))
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(error) => {
                findings.push(Finding::warn(
                    subject.clone(),
                    format!("could not check the {} permission ({error})", probe.scope),
                ));
                continue;
            }
        };
        let their_clock = response
            .headers()
            .get(DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|d| httpdate::parse_http_date(d).ok());
        if !skew_seen && let Some(theirs) = their_clock {
            skew_seen = true;
            findings.push(skew_finding(&subject, account.mode, theirs, SystemTime::now()));
        }
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        findings.push(permission_finding(&subject, &probe, status, &body));
    }
    findings
}

/// DingTalk's answer to an empty request: refused for the permission, or for the body.
fn permission_finding(subject: &str, probe: &PermissionProbe, status: u16, body: &str) -> Finding {
    let error = ApiError::from_response("doctor", status, body);
    let missing = error.as_ref().is_some_and(|e| {
        e.kind == ApiErrorKind::PermissionMissing
            || e.permission.is_some()
            || e.code.contains("AccessTokenPermissionDenied")
    });
    if missing {
        let named = error
            .and_then(|e| e.permission)
            .unwrap_or_else(|| probe.scope.to_owned());
        return Finding::problem(
            subject,
            format!(
                "missing DingTalk permission {named}, needed for {}; grant it under the app's \
                 权限管理 (permissions) in the developer console and publish the app",
                probe.what
            ),
        );
    }
    Finding::ok(subject, format!("permission {} granted", probe.scope))
}

fn skew_finding(subject: &str, mode: ConnectionMode, theirs: SystemTime, ours: SystemTime) -> Finding {
    let (skew, ahead) = match ours.duration_since(theirs) {
        Ok(d) => (d, "ahead of"),
        Err(e) => (e.duration(), "behind"),
    };
    let secs = skew.as_secs();
    let advice = "sync the clock (NTP: `timedatectl set-ntp true` or chrony)";
    if skew >= SKEW_PROBLEM {
        Finding::problem(
            subject,
            format!(
                "this machine's clock is {secs} s {ahead} DingTalk's; signed callbacks (HTTP mode) \
                 and signed robot requests fail; {advice}"
            ),
        )
    } else if skew >= SKEW_WARN {
        let hurts = if mode == ConnectionMode::Http {
            "signed callbacks may soon be refused"
        } else {
            "signatures are at risk"
        };
        Finding::warn(
            subject,
            format!("this machine's clock is {secs} s {ahead} DingTalk's; {hurts}; {advice}"),
        )
    } else {
        Finding::ok(subject, format!("clock within {secs} s of DingTalk's"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::doctor::Severity;

    fn probe() -> PermissionProbe {
        PermissionProbe {
            scope: "Card.Instance.Write",
            what: "AI cards",
            method: reqwest::Method::POST,
            path: "/v1.0/card/instances/createAndDeliver",
        }
    }

    #[test]
    fn a_refusal_naming_a_scope_is_a_missing_permission() {
        let body = r#"{"code":"Forbidden.AccessDenied.AccessTokenPermissionDenied","message":"no","accessdenieddetail":{"requiredScopes":["Card.Instance.Write"]}}"#;
        let f = permission_finding("account a", &probe(), 403, body);
        assert_eq!(f.severity, Severity::Problem);
        assert!(
            f.message
                .contains("missing DingTalk permission Card.Instance.Write"),
            "{}",
            f.message
        );
        let f = permission_finding(
            "account a",
            &probe(),
            400,
            r#"{"code":"MissingParameter","message":"cardTemplateId"}"#,
        );
        assert_eq!(f.severity, Severity::Ok, "{}", f.message);
    }

    #[test]
    fn clock_skew_grades() {
        let now = SystemTime::now();
        let s = |secs, mode| skew_finding("a", mode, now - Duration::from_secs(secs), now).severity;
        assert_eq!(s(5, ConnectionMode::Stream), Severity::Ok);
        assert_eq!(s(120, ConnectionMode::Http), Severity::Warn);
        assert_eq!(s(3600, ConnectionMode::Stream), Severity::Problem);
        let behind = skew_finding("a", ConnectionMode::Http, now + Duration::from_secs(90), now);
        assert!(behind.message.contains("90 s behind"), "{}", behind.message);
    }
}
