//! `responseFormat` (`response_format` in `channels.yaml`): the agent's answers as DingTalk
//! action cards with fixed buttons, for every channel (top level) or one account.
//!
//! ```yaml
//! response_format:
//!   type: dingtalk_action_card
//!   btn_orientation: "0"              # 0 = stacked, 1 = side by side (two buttons)
//!   buttons:
//!     - { title: "Approve", action_url: "dingtalk://dingtalkclient/action/approve" }
//! ```
//!
//! `type: markdown` turns it off for one account when the top level sets it. `btnOrientation`
//! and `actionUrl` (camelCase) are read too, as in DingTalk's own `actionCard` payload.

use url::Url;

use super::reader::{Ctx, IGNORED_KEY, Node};
use super::types::{ResponseButton, ResponseFormat};
use clawtalk_core::limits::{MAX_BUTTON_TITLE_CHARS, MAX_BUTTONS};

/// URL schemes a button may open: web pages, and DingTalk's client links (`dingtalk://
/// dingtalkclient/page/link?url=…` opens a page inside the client, `dtmd://dingtalkclient/
/// sendMessage?content=…` sends a reply; DingTalk open platform, "消息链接说明").
const BUTTON_SCHEMES: &[&str] = &["http", "https", "dingtalk", "dtmd"];

/// Reads a `responseFormat` value: `Some(None)` is an explicit `type: markdown`; `None` means
/// the value was invalid (reported in `cx`).
pub fn read(node: &Node<'_, '_>, cx: &mut Ctx<'_>) -> Option<Option<ResponseFormat>> {
    let obj = node.object(cx)?;
    let kind = match obj.get("type") {
        None => {
            cx.diags.error(
                obj.key_path("type"),
                "response format has no type",
                "add type: dingtalk_action_card (or markdown for plain answers)",
            );
            None
        }
        Some(n) => n.node().choice(
            cx,
            &[
                ("dingtalk_action_card", true),
                ("actionCard", true),
                ("markdown", false),
            ],
        ),
    };
    let orientation = obj
        .get("btn_orientation")
        .or_else(|| obj.get("btnOrientation"))
        .and_then(|n| match n.value {
            // The seed writes "0"/"1" as DingTalk's payload does; a bare number means the same.
            super::value::Value::Number(num) => match num.as_i64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => {
                    orientation_error(cx, &n.path);
                    None
                }
            },
            _ => n.node().choice(cx, &[("0", false), ("1", true)]),
        });
    let buttons = obj.get("buttons").and_then(|n| n.node().array(cx)).map(|items| {
        items
            .iter()
            .filter_map(|item| button(&item.node(), cx))
            .collect::<Vec<_>>()
    });
    obj.finish(cx, &[], IGNORED_KEY);
    if !kind? {
        return Some(None);
    }
    let Some(buttons) = buttons else {
        if !obj.has("buttons") {
            cx.diags.error(
                obj.key_path("buttons"),
                "an action card response format needs buttons",
                format!("list 1 to {MAX_BUTTONS} buttons as {{ title, action_url }}"),
            );
        }
        return None;
    };
    if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
        cx.diags.error(
            obj.key_path("buttons"),
            format!(
                "an action card has 1 to {MAX_BUTTONS} buttons, found {}",
                buttons.len()
            ),
            "keep between one and five buttons",
        );
        return None;
    }
    let horizontal = orientation.unwrap_or(false);
    if horizontal && buttons.len() != 2 {
        cx.diags.error(
            obj.key_path("btn_orientation"),
            format!(
                "side-by-side buttons need exactly 2 buttons, found {}",
                buttons.len()
            ),
            "use btn_orientation: \"0\" to stack them",
        );
        return None;
    }
    Some(Some(ResponseFormat { buttons, horizontal }))
}

fn orientation_error(cx: &mut Ctx<'_>, path: &str) {
    cx.diags.error(
        path,
        "not a button orientation",
        "write \"0\" (stacked) or \"1\" (side by side)",
    );
}

fn button(node: &Node<'_, '_>, cx: &mut Ctx<'_>) -> Option<ResponseButton> {
    let obj = node.object(cx)?;
    let title = obj.get("title").and_then(|n| n.node().nonempty_string(cx));
    if !obj.has("title") {
        cx.diags.error(
            obj.key_path("title"),
            "button has no title",
            "add title: the button's label",
        );
    }
    let url_node = obj.get("action_url").or_else(|| obj.get("actionUrl"));
    let url = match &url_node {
        None => {
            cx.diags.error(
                obj.key_path("action_url"),
                "button has no action_url",
                "add action_url: the link the button opens (https://… or dingtalk://…)",
            );
            None
        }
        Some(n) => n
            .node()
            .nonempty_string(cx)
            .and_then(|raw| match Url::parse(raw.trim()) {
                Ok(url) if BUTTON_SCHEMES.contains(&url.scheme()) => Some(url),
                _ => {
                    cx.diags.error(
                        &n.path,
                        format!("{raw:?} is not a link DingTalk can open"),
                        "use an https:// URL or a dingtalk:// client link",
                    );
                    None
                }
            }),
    };
    obj.finish(cx, &[], IGNORED_KEY);
    let title = title?;
    if title.trim().chars().count() > MAX_BUTTON_TITLE_CHARS {
        cx.diags.error(
            obj.key_path("title"),
            format!("longer than {MAX_BUTTON_TITLE_CHARS} characters; DingTalk clients cut it off"),
            "shorten the label",
        );
        return None;
    }
    Some(ResponseButton { title, url: url? })
}

#[cfg(test)]
mod tests {
    use crate::{Config, ConfigErrors, LoadedConfig};

    fn load(top: &str, account: &str) -> Result<LoadedConfig, ConfigErrors> {
        let text = format!(
            r#"{{ agents: {{ list: [ {{ id: "main", model: "deepseek/deepseek-chat" }} ] }},
                 gateway: {{ stateDir: "/tmp/clawtalk-format" }},
                 {top}
                 channels: {{ dingtalk: {{ dmPolicy: "pairing", accounts: {{
                   a: {{ clientId: "dinga", clientSecret: "s", {account} }},
                   b: {{ clientId: "dingb", clientSecret: "s" }},
                 }} }} }} }}"#
        );
        let env = |name: &str| (name == "DEEPSEEK_API_KEY").then(|| "sk-x".to_owned());
        Config::from_json5(&text, &env)
    }

    const CARD: &str = r#"responseFormat: { type: "dingtalk_action_card", btn_orientation: "0", buttons: [
        { title: "Approve", action_url: "dingtalk://dingtalkclient/action/approve" },
        { title: "Docs", actionUrl: "https://example.com/docs" } ] },"#;

    #[test]
    fn a_top_level_format_applies_to_every_account_unless_one_turns_it_off() {
        let config = load(CARD, r#"responseFormat: { type: "markdown" },"#)
            .unwrap()
            .config;
        assert!(config.account("a").unwrap().response_format.is_none());
        let format = config.account("b").unwrap().response_format.clone().unwrap();
        assert!(!format.horizontal);
        let urls: Vec<&str> = format.buttons.iter().map(|b| b.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "dingtalk://dingtalkclient/action/approve",
                "https://example.com/docs"
            ]
        );
        assert_eq!(format.buttons[0].title, "Approve");
    }

    #[test]
    fn an_account_format_applies_to_that_account_only() {
        let config = load("", CARD).unwrap().config;
        assert!(config.account("a").unwrap().response_format.is_some());
        assert!(config.account("b").unwrap().response_format.is_none());
    }

    #[test]
    fn bad_formats_are_errors_with_a_fix() {
        let err = load(
            r#"responseFormat: { type: "dingtalk_action_card", btn_orientation: "1", buttons: [
                 { title: "A", action_url: "javascript:alert(1)" } ] },"#,
            "",
        )
        .unwrap_err();
        let at = |path: &str| {
            err.errors
                .iter()
                .find(|e| e.path == path)
                .unwrap_or_else(|| panic!("{path}: {err}"))
        };
        assert!(at("responseFormat.buttons[0].action_url").fix.is_some());

        let err = load(
            r#"responseFormat: { type: "dingtalk_action_card", btn_orientation: "1", buttons: [
                 { title: "A", action_url: "https://e.com" } ] },"#,
            "",
        )
        .unwrap_err();
        assert!(
            err.errors
                .iter()
                .any(|e| e.path == "responseFormat.btn_orientation"),
            "{err}"
        );

        let err = load(r#"responseFormat: { type: "poster" },"#, "").unwrap_err();
        assert!(
            err.errors.iter().any(|e| e.path == "responseFormat.type"),
            "{err}"
        );

        let err = load(r#"responseFormat: { type: "dingtalk_action_card" },"#, "").unwrap_err();
        assert!(
            err.errors.iter().any(|e| e.path == "responseFormat.buttons"),
            "{err}"
        );
    }

    #[test]
    fn action_cards_and_ai_cards_cannot_both_shape_an_account() {
        let err = load(CARD, r#"messageType: "card","#).unwrap_err();
        assert!(
            err.errors
                .iter()
                .any(|e| e.path == "channels.dingtalk.accounts.a.messageType"),
            "{err}"
        );
    }
}
