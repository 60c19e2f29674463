//! `cardCallbackUrl` + `cardCallbackSecret`: where an HTTP-mode account's card presses come
//! back. Over Stream, presses arrive on the connection; an HTTP-mode account has none, so
//! DingTalk must be told a URL (`POST /v1.0/card/callbacks/register`) and the cards must name
//! it, or nobody can answer an approval card.

use std::collections::HashMap;

use super::channels::AccountDraft;
use super::reader::{Ctx, Layered};
use super::types::{CardCallbackSettings, ConnectionMode};

/// The path under which the default account's card callbacks are served; an account with
/// this id would clash with it.
pub const DEFAULT_CARD_PATH_ID: &str = "card";

/// Reads the keys; `None` without a `cardCallbackUrl`.
pub fn read(layer: &Layered<'_, '_>, cx: &mut Ctx<'_>) -> Option<CardCallbackSettings> {
    let url = layer.get("cardCallbackUrl").and_then(|n| n.node().url(cx));
    let secret_node = layer.get("cardCallbackSecret");
    let api_secret = secret_node
        .as_ref()
        .and_then(|n| n.node().secret(cx))
        .filter(|s| !s.is_empty());
    if url.is_none()
        && layer.get("cardCallbackUrl").is_none()
        && let Some(node) = secret_node
    {
        cx.diags.warn(
            node.path,
            "unused without cardCallbackUrl",
            Some("set cardCallbackUrl too, or remove cardCallbackSecret".into()),
        );
    }
    Some(CardCallbackSettings {
        url: url?,
        api_secret,
    })
}

/// Cross-checks of the enabled accounts' card callbacks. `approvals` says whether any tool
/// call may wait for an approval card (global or per-agent `tools.approval.require`).
pub fn check(drafts: &[AccountDraft], approvals: bool, cx: &mut Ctx<'_>) {
    let mut urls: HashMap<String, String> = HashMap::new();
    for d in drafts.iter().filter(|d| d.account.enabled) {
        let a = &d.account;
        let url_path = d.key_path("cardCallbackUrl");
        if a.id == DEFAULT_CARD_PATH_ID && receives_over_http(d) {
            cx.diags.error(
                d.path.clone().unwrap_or_else(|| "env".into()),
                format!(
                    "account id {DEFAULT_CARD_PATH_ID:?} clashes with /webhooks/dingtalk/card, the default account's card callback path"
                ),
                "rename the account (e.g. \"cards\")",
            );
        }
        let Some(card) = &a.card_callback else {
            if a.mode == ConnectionMode::Http && approvals && !cx.diags.has_error_at(&url_path) {
                cx.diags.error(
                    &url_path,
                    format!(
                        "account {:?} is in HTTP mode and tool calls need approval, but DingTalk has nowhere to send the approval card's button presses",
                        a.id
                    ),
                    format!(
                        "set cardCallbackUrl to the public address of this gateway's /webhooks/dingtalk/{}/card (e.g. \"https://bot.example.com/webhooks/dingtalk/{}/card\"), or use mode \"stream\"",
                        a.id, a.id
                    ),
                );
            }
            continue;
        };
        if a.mode != ConnectionMode::Http {
            cx.diags.warn(
                &url_path,
                "only used in mode \"http\": this account's card presses arrive over its Stream connection",
                Some("remove cardCallbackUrl, or set mode: \"http\"".into()),
            );
            continue;
        }
        if let Some(first) = urls.insert(card.url.as_str().to_owned(), url_path.clone()) {
            cx.diags.error(
                &url_path,
                format!("cardCallbackUrl is already used by {first}: one account's presses would reach the other"),
                "give every HTTP-mode account its own URL ending in /webhooks/dingtalk/<accountId>/card (an account inherits a top-level cardCallbackUrl)",
            );
        }
        let named = format!("/webhooks/dingtalk/{}/card", a.id);
        if !card.url.path().ends_with(&named) && !card.url.path().ends_with("/webhooks/dingtalk/card") {
            cx.diags.warn(
                &url_path,
                format!(
                    "does not end in {named}, the path the gateway serves this account's card presses on"
                ),
                Some("fine if a proxy rewrites the path; otherwise point it at that path".into()),
            );
        }
    }
}

/// Whether DingTalk POSTs to the account's webhook path.
fn receives_over_http(d: &AccountDraft) -> bool {
    d.account.mode == ConnectionMode::Http
        || d.push_keys.token.is_some()
        || d.account
            .custom_robot
            .as_ref()
            .is_some_and(|r| r.outgoing_token.is_some())
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn load(text: &str) -> Result<crate::LoadedConfig, crate::ConfigErrors> {
        Config::from_json5(text, &|k| match k {
            "HOME" => Some("/tmp/h".to_owned()),
            "CARD_SECRET" => Some("from-env".to_owned()),
            _ => None,
        })
    }

    const MODELS: &str = r#"models: { providers: { mock: { baseUrl: "http://127.0.0.1:9/v1", api: "openai-completions", models: [{ id: "m" }] } } },
        agents: { list: [ { id: "main", model: "mock/m" } ] }"#;
    const APPROVALS: &str = r#"tools: { approval: { require: ["get_time"], cardTemplateId: "tpl.schema" } }"#;

    fn with(account: &str, tools: &str) -> String {
        format!(
            r#"{{ {MODELS}, {tools},
                 channels: {{ dingtalk: {{ accounts: {{ bot: {{ clientId: "ding1", clientSecret: "s", {account} }} }} }} }} }}"#
        )
    }

    #[test]
    fn an_http_account_with_approvals_needs_a_card_callback_url() {
        let err = load(&with(r#"mode: "http""#, APPROVALS)).unwrap_err().to_string();
        assert!(
            err.contains("channels.dingtalk.accounts.bot.cardCallbackUrl")
                && err.contains("approval card")
                && err.contains("/webhooks/dingtalk/bot/card"),
            "{err}"
        );
        // Without approvals, or over Stream, nothing is needed.
        load(&with(r#"mode: "http""#, "tools: {}")).unwrap();
        load(&with("", APPROVALS)).unwrap();
    }

    #[test]
    fn the_url_and_secret_are_read_and_the_secret_may_come_from_the_environment() {
        let loaded = load(&with(
            r#"mode: "http", cardCallbackUrl: "https://bot.example.com/webhooks/dingtalk/bot/card", cardCallbackSecret: "${CARD_SECRET}""#,
            APPROVALS,
        ))
        .unwrap();
        let card = loaded.config.accounts[0].card_callback.clone().unwrap();
        assert_eq!(
            card.url.as_str(),
            "https://bot.example.com/webhooks/dingtalk/bot/card"
        );
        assert_eq!(card.api_secret.unwrap().expose(), "from-env");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let derived = load(&with(
            r#"mode: "http", cardCallbackUrl: "https://bot.example.com/webhooks/dingtalk/bot/card""#,
            APPROVALS,
        ))
        .unwrap();
        assert_eq!(
            derived.config.accounts[0]
                .card_callback
                .as_ref()
                .unwrap()
                .api_secret,
            None
        );
    }

    #[test]
    fn misplaced_or_shared_urls_are_reported() {
        let stream = load(&with(
            r#"cardCallbackUrl: "https://bot.example.com/webhooks/dingtalk/bot/card""#,
            "tools: {}",
        ))
        .unwrap();
        assert!(
            stream
                .warnings
                .iter()
                .any(|w| w.to_string().contains("only used in mode")),
            "{:?}",
            stream.warnings
        );
        let elsewhere = load(&with(
            r#"mode: "http", cardCallbackUrl: "https://bot.example.com/cb""#,
            "tools: {}",
        ))
        .unwrap();
        assert!(
            elsewhere
                .warnings
                .iter()
                .any(|w| w.to_string().contains("/webhooks/dingtalk/bot/card")),
            "{:?}",
            elsewhere.warnings
        );
        let shared = format!(
            r#"{{ {MODELS}, channels: {{ dingtalk: {{ mode: "http", cardCallbackUrl: "https://bot.example.com/webhooks/dingtalk/card",
                accounts: {{ a: {{ clientId: "ding1", clientSecret: "s" }}, b: {{ clientId: "ding2", clientSecret: "t" }} }} }} }} }}"#
        );
        let err = load(&shared).unwrap_err().to_string();
        assert!(err.contains("already used by"), "{err}");
        let bad = load(&with(
            r#"mode: "http", cardCallbackUrl: "not a url""#,
            "tools: {}",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            bad.contains("cardCallbackUrl") && bad.contains("not an http(s) URL"),
            "{bad}"
        );
    }

    #[test]
    fn an_http_account_may_not_take_the_default_card_path() {
        let text = format!(
            r#"{{ {MODELS}, channels: {{ dingtalk: {{ accounts: {{ card: {{ clientId: "ding1", clientSecret: "s", mode: "http" }} }} }} }} }}"#
        );
        let err = load(&text).unwrap_err().to_string();
        assert!(err.contains("clashes with /webhooks/dingtalk/card"), "{err}");
    }
}
