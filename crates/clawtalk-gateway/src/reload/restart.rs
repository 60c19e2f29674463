//! Settings a reload cannot apply: the listener, the store, the state directory and what
//! was built from them at start. The gateway keeps running with the values it started
//! with (copied into every reloaded config, so nothing reads a value that is not in force)
//! and reports each as waiting for a restart.
//!
//! OpenClaw's `hybrid` mode restarts its process for these
//! (<https://docs.openclaw.ai/gateway/configuration/hot-reload>); clawtalk does not: a
//! restart drops every Stream connection and stops running turns, which is the operator's
//! call (`clawtalk gateway restart`, or the service manager), not a side effect of saving
//! a file.

use clawtalk_config::Config;

/// Copies the restart-only settings of `running` into `next`; returns one line per setting
/// whose new value waits for a restart (never a secret's value).
pub(crate) fn pin(running: &Config, next: &mut Config) -> Vec<String> {
    let mut waiting = Vec::new();
    let (old, new) = (&running.gateway, &mut next.gateway);
    let mut keep = |key: &str, changed: bool, shown: Option<(String, String)>| {
        if changed {
            waiting.push(match shown {
                Some((was, wants)) => format!("{key}: running with {was}, the file says {wants}"),
                None => format!("{key}: changed in the file; the running value stays"),
            });
        }
    };
    keep(
        "gateway.port",
        old.port != new.port,
        Some((old.port.to_string(), new.port.to_string())),
    );
    new.port = old.port;
    keep(
        "gateway.bind",
        old.bind != new.bind,
        Some((old.bind.to_string(), new.bind.to_string())),
    );
    new.bind = old.bind;
    keep(
        "gateway.stateDir",
        old.state_dir != new.state_dir,
        Some((
            old.state_dir.display().to_string(),
            new.state_dir.display().to_string(),
        )),
    );
    new.state_dir.clone_from(&old.state_dir);
    keep("gateway.auth.token", old.auth_token != new.auth_token, None);
    new.auth_token.clone_from(&old.auth_token);
    keep(
        "gateway.controlUi.enabled",
        old.control_ui != new.control_ui,
        Some((old.control_ui.to_string(), new.control_ui.to_string())),
    );
    new.control_ui = old.control_ui;
    keep(
        "gateway.trustedProxies",
        old.trusted_proxies != new.trusted_proxies,
        None,
    );
    new.trusted_proxies.clone_from(&old.trusted_proxies);
    keep("gateway.http", old.http != new.http, None);
    new.http = old.http;
    keep(
        "gateway.maxConcurrentTurns",
        old.max_concurrent_turns != new.max_concurrent_turns,
        Some((
            old.max_concurrent_turns.to_string(),
            new.max_concurrent_turns.to_string(),
        )),
    );
    new.max_concurrent_turns = old.max_concurrent_turns;
    // The URL may hold a password: never shown.
    keep("store.url", running.store.url != next.store.url, None);
    next.store.url.clone_from(&running.store.url);
    waiting
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(port: u16, extra: &str) -> Config {
        let text = format!(
            r#"{{ channels: {{ dingtalk: {{ clientId: "ding1", clientSecret: "s", {extra} }} }},
                models: {{ providers: {{ m: {{ baseUrl: "http://127.0.0.1:9/v1", apiKey: "k" }} }} }},
                agents: {{ list: [ {{ id: "main", model: "m/x" }} ] }},
                gateway: {{ port: {port}, stateDir: "/tmp/clawtalk-restart-test" }} }}"#
        );
        Config::from_json5(&text, &|_| None).expect("valid").config
    }

    #[test]
    fn the_listener_port_keeps_its_running_value_and_is_reported() {
        let running = config(18_789, "");
        let mut next = config(18_790, "");
        let waiting = pin(&running, &mut next);
        assert_eq!(next.gateway.port, 18_789);
        assert_eq!(waiting.len(), 1, "{waiting:?}");
        assert!(waiting[0].starts_with("gateway.port"), "{waiting:?}");
    }

    #[test]
    fn live_settings_are_not_reported() {
        let running = config(18_789, "");
        let mut next = config(18_789, r#"dmPolicy: "open", allowFrom: ["*"],"#);
        assert!(pin(&running, &mut next).is_empty());
        assert_ne!(running, next, "the policy change itself stays in the new config");
    }
}
