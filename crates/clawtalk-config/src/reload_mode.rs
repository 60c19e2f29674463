//! `gateway.reload.*`: whether the running gateway applies edits of its config file.
//!
//! OpenClaw's modes (<https://docs.openclaw.ai/gateway/configuration/hot-reload>): `hybrid`
//! (the default) applies what can apply live, `off` keeps watching and checking the file but
//! leaves the change for an explicit reload or the next start. Its retired `hot` and
//! `restart` modes are read as `hybrid`, as its `doctor --fix` maps them.

use super::reader::{Ctx, IGNORED_KEY, Obj};
use super::types::ReloadMode;

/// Reads `gateway.reload` (its `debounceMs` is OpenClaw's too, and no longer configurable
/// there either: accepted and ignored).
pub(crate) fn read(reload: &Obj<'_>, cx: &mut Ctx<'_>) -> ReloadMode {
    let mut mode = ReloadMode::default();
    if let Some(node) = reload.get("mode") {
        let chosen = node.node().choice(
            cx,
            &[
                ("hybrid", Some(ReloadMode::Hybrid)),
                ("off", Some(ReloadMode::Off)),
                ("hot", None),
                ("restart", None),
            ],
        );
        match chosen {
            Some(Some(chosen)) => mode = chosen,
            Some(None) => cx.diags.warn(
                reload.key_path("mode"),
                "this reload mode is retired (OpenClaw maps it to \"hybrid\"); hybrid is used",
                Some("set gateway.reload.mode to \"hybrid\" or \"off\"".into()),
            ),
            None => {}
        }
    }
    reload.finish(cx, &["debounceMs"], IGNORED_KEY);
    mode
}

#[cfg(test)]
mod tests {
    use crate::{Config, ReloadMode};

    fn load(gateway: &str) -> Result<crate::LoadedConfig, crate::ConfigErrors> {
        let text = format!(
            r#"{{ channels: {{ dingtalk: {{ clientId: "ding1", clientSecret: "s" }} }},
                agents: {{ defaults: {{ model: {{ primary: "deepseek/deepseek-chat" }} }} }},
                gateway: {{ stateDir: "/tmp/clawtalk-reload-mode", {gateway} }} }}"#
        );
        Config::from_json5(&text, &|name| {
            (name == "DEEPSEEK_API_KEY").then(|| "sk-test".to_owned())
        })
    }

    #[test]
    fn hybrid_is_the_default_and_off_is_read() {
        let default = load("").expect("valid");
        assert_eq!(default.config.gateway.reload_mode, ReloadMode::Hybrid);
        let off = load(r#"reload: { mode: "off" }"#).expect("valid");
        assert_eq!(off.config.gateway.reload_mode, ReloadMode::Off);
    }

    #[test]
    fn retired_modes_read_as_hybrid_with_a_warning() {
        let hot = load(r#"reload: { mode: "hot" }"#).expect("valid");
        assert_eq!(hot.config.gateway.reload_mode, ReloadMode::Hybrid);
        assert!(
            hot.warnings.iter().any(|w| w.path == "gateway.reload.mode"),
            "{:?}",
            hot.warnings
        );
    }

    #[test]
    fn an_unknown_mode_is_an_error_at_its_key() {
        let errors = load(r#"reload: { mode: "sometimes" }"#).expect_err("invalid");
        assert!(
            errors.errors.iter().any(|e| e.path == "gateway.reload.mode"),
            "{errors}"
        );
    }
}
