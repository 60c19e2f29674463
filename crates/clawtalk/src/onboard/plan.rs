//! What the onboarding writes: one DingTalk account (and optionally a model provider),
//! gathered from flags and prompts, checked before anything touches the file.

use dingtalk::Secret;
use url::Url;

/// How the bot talks to DingTalk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Stream mode: an outbound WebSocket, no public URL needed.
    Stream,
    /// HTTP callbacks to a public URL.
    Http,
    /// A group's Custom Robot webhook.
    CustomRobot,
}

impl Mode {
    /// The config value of `mode`.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Self::Stream => "stream",
            Self::Http => "http",
            Self::CustomRobot => "customRobot",
        }
    }
}

/// A secret and how it goes into the file.
#[derive(Debug, Clone)]
pub(crate) struct SecretEntry {
    /// The value, for the connection test; `None` when only a reference was given and the
    /// variable is not set here (the test is then skipped with a notice).
    pub(crate) value: Option<Secret>,
    /// `Some(VAR)`: written as `${VAR}`, the value stays out of the file.
    pub(crate) env: Option<String>,
}

impl SecretEntry {
    /// What the file holds: the value, or a `${VAR}` reference.
    pub(crate) fn written(&self) -> String {
        match (&self.env, &self.value) {
            (Some(var), _) => format!("${{{var}}}"),
            (None, Some(value)) => value.expose().to_owned(),
            (None, None) => String::new(),
        }
    }
}

/// The credentials of one account.
#[derive(Debug, Clone)]
pub(crate) enum Credentials {
    /// An app's robot (Stream or HTTP mode).
    App {
        client_id: String,
        client_secret: SecretEntry,
        /// HTTP mode event subscription (`token`, `aesKey`), when used.
        token: Option<SecretEntry>,
        aes_key: Option<SecretEntry>,
    },
    /// A Custom Robot: webhook URL and, with signing, its `SEC…` secret.
    Robot {
        webhook_url: Url,
        secret: Option<SecretEntry>,
    },
}

/// Who may talk to the bot.
#[derive(Debug, Clone)]
pub(crate) struct Policies {
    /// `dmPolicy` (`pairing|allowlist|open|disabled`).
    pub(crate) dm_policy: &'static str,
    /// `allowFrom`.
    pub(crate) allow_from: Vec<String>,
    /// `groupPolicy` (`open|allowlist|disabled`).
    pub(crate) group_policy: &'static str,
    /// `requireMention`.
    pub(crate) require_mention: bool,
}

/// The model the agents use.
#[derive(Debug, Clone)]
pub(crate) struct ModelPlan {
    /// Provider id in `models.providers`.
    pub(crate) provider: String,
    /// Model id.
    pub(crate) model: String,
    /// `baseUrl`, required for custom providers.
    pub(crate) base_url: Option<Url>,
    /// `apiKey`; `None` leaves it to the preset's environment variables.
    pub(crate) api_key: Option<SecretEntry>,
}

/// Everything to write.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) account: String,
    pub(crate) mode: Mode,
    pub(crate) credentials: Credentials,
    pub(crate) policies: Policies,
    /// `endpoints`: DingTalk base URL (tests, proxies); `None` = production.
    pub(crate) endpoints: Option<Url>,
    pub(crate) model: Option<ModelPlan>,
}

/// DM policy names accepted by flags and prompts.
pub(crate) const DM_POLICIES: [&str; 4] = ["pairing", "allowlist", "open", "disabled"];
/// Group policy names.
pub(crate) const GROUP_POLICIES: [&str; 3] = ["open", "allowlist", "disabled"];

/// The environment variable suggested for an account's secret.
pub(crate) fn default_secret_var(account: &str, what: &str) -> String {
    let what = what.to_ascii_uppercase();
    if account == "default" {
        format!("DINGTALK_{what}")
    } else {
        let id: String = account
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("DINGTALK_{id}_{what}")
    }
}

/// Whether `name` can be a `${VAR}` reference (the config only expands upper-case names).
pub(crate) fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_written_as_values_or_references() {
        let literal = SecretEntry {
            value: Some(Secret::new("s3cret")),
            env: None,
        };
        assert_eq!(literal.written(), "s3cret");
        let reference = SecretEntry {
            value: Some(Secret::new("s3cret")),
            env: Some("BOT_SECRET".into()),
        };
        assert_eq!(reference.written(), "${BOT_SECRET}");
        assert!(!format!("{reference:?}").contains("s3cret"));
    }

    #[test]
    fn variable_names() {
        assert_eq!(
            default_secret_var("default", "client_secret"),
            "DINGTALK_CLIENT_SECRET"
        );
        assert_eq!(
            default_secret_var("sales-bot", "client_secret"),
            "DINGTALK_SALES_BOT_CLIENT_SECRET"
        );
        assert!(is_env_name("DINGTALK_CLIENT_SECRET"));
        assert!(!is_env_name("lower"));
        assert!(!is_env_name("9X"));
        assert!(!is_env_name(""));
    }
}
