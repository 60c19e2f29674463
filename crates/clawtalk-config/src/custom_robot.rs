//! Custom Robot accounts (`mode: "customRobot"`): a group webhook (`webhookUrl`), its `SEC…`
//! signing `secret` and/or security `keywords`, and `batchResponses`.

use url::Url;

use super::reader::{Ctx, Layered};
use super::types::{ConnectionMode, CustomRobotSettings, DingTalkAccount};
use clawtalk_core::keywords::validate_keywords;
use clawtalk_core::target::Target;

impl DingTalkAccount {
    /// The webhook every message of a `mode: "customRobot"` account goes to.
    #[must_use]
    pub fn custom_robot_target(&self) -> Option<Target> {
        let robot = self
            .custom_robot
            .as_ref()
            .filter(|_| self.mode == ConnectionMode::CustomRobot)?;
        Some(Target::CustomRobot {
            webhook: robot.webhook.clone(),
            secret: robot.secret.clone().filter(|s| !s.is_empty()),
            keywords: robot.keywords.clone(),
        })
    }
}

/// Reads the custom-robot keys of an account (`webhook_url` / `batch_responses` spellings of
/// the seed format accepted too). `None` when the account names no webhook.
pub fn read(layer: &Layered<'_, '_>, cx: &mut Ctx<'_>) -> Option<CustomRobotSettings> {
    let pick = |a: &'static str, b: &'static str| layer.get(a).or_else(|| layer.get(b));
    let webhook = pick("webhookUrl", "webhook_url").and_then(|n| n.node().url(cx));
    let secret = layer.get("secret").and_then(|n| n.node().secret(cx));
    let mut keywords = layer
        .get("keywords")
        .and_then(|n| n.node().id_list(cx))
        .unwrap_or_default();
    if let Some(one) = layer.get("keyword").and_then(|n| n.node().string(cx)) {
        keywords.insert(0, one);
    }
    let outgoing_token = pick("outgoingToken", "outgoing_token").and_then(|n| n.node().secret(cx));
    Some(CustomRobotSettings {
        webhook: webhook?,
        secret,
        keywords,
        outgoing_token,
    })
}

/// `batchResponses` (also `batch_responses`), default true.
pub fn batch_responses(layer: &Layered<'_, '_>, cx: &mut Ctx<'_>) -> bool {
    layer
        .get("batchResponses")
        .or_else(|| layer.get("batch_responses"))
        .and_then(|n| n.node().bool(cx))
        .unwrap_or(true)
}

/// What is wrong with a custom robot's settings, as (key, message, fix).
pub fn problems(robot: &CustomRobotSettings) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    if !has_access_token(&robot.webhook) {
        out.push((
            "webhookUrl",
            "the webhook URL has no access_token".to_owned(),
            "copy the whole URL from the group's robot settings: https://oapi.dingtalk.com/robot/send?access_token=…".to_owned(),
        ));
    }
    if let Err(error) = validate_keywords(&robot.keywords) {
        out.push(("keywords", error.to_string(), "fix the keywords list".to_owned()));
    }
    out
}

/// A signing secret that does not look like DingTalk's (`SEC…`), as (key, message, fix). Only
/// a warning: the guides' examples carry placeholders such as `YOUR_SECRET` that the file must
/// still load with; DingTalk itself refuses such a signature (310000) when a message is sent.
pub fn secret_warning(robot: &CustomRobotSettings) -> Option<(&'static str, String, String)> {
    let secret = robot.secret.as_ref()?;
    (!secret.expose().starts_with("SEC")).then(|| {
        (
            "secret",
            "the signing secret does not start with SEC; DingTalk refuses messages signed with anything but the robot's own secret".to_owned(),
            "copy the 加签 secret (SEC…) from the robot's security settings, or remove secret when signing is off".to_owned(),
        )
    })
}

fn has_access_token(url: &Url) -> bool {
    url.query_pairs()
        .any(|(k, v)| k == "access_token" && !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use crate::{Config, ConnectionMode};

    fn load(channel: &str) -> Result<Config, crate::ConfigErrors> {
        let text = format!(
            r#"{{ agents: {{ list: [ {{ id: "main", model: "deepseek/deepseek-chat" }} ] }},
                 gateway: {{ stateDir: "/tmp/clawtalk-robot" }},
                 channels: {{ dingtalk: {{ {channel} }} }} }}"#
        );
        let env = |name: &str| (name == "DEEPSEEK_API_KEY").then(|| "sk-x".to_owned());
        Config::from_json5(&text, &env).map(|l| l.config)
    }

    #[test]
    fn a_webhook_without_app_credentials_is_a_custom_robot() {
        let config = load(
            r#"enabled: true, webhookUrl: "https://oapi.dingtalk.com/robot/send?access_token=abc",
               secret: "SEC123", dmPolicy: "pairing", allowFrom: ["user123"]"#,
        )
        .unwrap();
        let account = config.account("default").unwrap();
        assert_eq!(account.mode, ConnectionMode::CustomRobot);
        assert!(account.custom_robot_target().is_some());
    }

    #[test]
    fn a_placeholder_signing_secret_loads_with_a_warning() {
        let text = r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
            gateway: { stateDir: "/tmp/clawtalk-robot" },
            channels: { dingtalk: { webhookUrl: "https://oapi.dingtalk.com/robot/send?access_token=t", secret: "YOUR_SECRET" } } }"#;
        let env = |name: &str| (name == "DEEPSEEK_API_KEY").then(|| "sk-x".to_owned());
        let loaded = Config::from_json5(text, &env).unwrap();
        let warning = loaded
            .warnings
            .iter()
            .find(|w| w.path == "channels.dingtalk.secret")
            .expect("a warning about the secret");
        assert!(warning.message.contains("SEC"), "{warning}");
        assert!(
            !warning.to_string().contains("YOUR_SECRET"),
            "the secret is not echoed"
        );
    }

    #[test]
    fn app_credentials_keep_stream_mode_and_a_missing_client_id_is_still_reported() {
        let config = load(
            r#"clientId: "dingapp", clientSecret: "s", dmPolicy: "pairing",
               webhookUrl: "https://oapi.dingtalk.com/robot/send?access_token=abc""#,
        )
        .unwrap();
        assert_eq!(config.account("default").unwrap().mode, ConnectionMode::Stream);
        let err = load(r#"clientSecret: "s", dmPolicy: "pairing""#).unwrap_err();
        assert!(
            err.errors.iter().any(|e| e.path == "channels.dingtalk.clientId"),
            "{err}"
        );
    }
}
