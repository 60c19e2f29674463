//! The HTTP callback route of an HTTP-mode account's cards (`cardCallbackUrl`): its route
//! key, its signing secret, and keeping it registered with DingTalk.
//!
//! DingTalk's flow (open.dingtalk.com/document/development/event-callback-card, "HTTP 模式";
//! …/register-card-callback-address): register `callbackRouteKey` → `callbackUrl` with an
//! `apiSecret` once, then create each card with `callbackType: "HTTP"` and that key; every
//! press is then POSTed to the URL, signed with the secret (`intake/http_card_callback.rs`).

use std::sync::Arc;
use std::time::Duration;

use dingtalk::Secret;
use dingtalk::api::OpenApiClient;
use dingtalk::model::RegisterCardCallbackRequest;

use crate::Shared;
use clawtalk_config::{ConnectionMode, DingTalkAccount};

/// First wait after a failed registration; it doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest wait between registration attempts.
const MAX_RETRY: Duration = Duration::from_secs(300);

/// Where an account's card presses go.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CardRoute {
    /// `callbackRouteKey`: `clawtalk_<clientId>`. Client ids are unique across DingTalk, so
    /// the key cannot collide with another app's even if route keys were global (DingTalk
    /// does not say).
    pub route_key: String,
    /// `callbackUrl`.
    pub url: String,
    /// `apiSecret`: `cardCallbackSecret`, or one derived from the client secret.
    pub api_secret: Secret,
}

impl std::fmt::Debug for CardRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardRoute")
            .field("route_key", &self.route_key)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The account's card route: only an HTTP-mode account with `cardCallbackUrl` has one (a
/// Stream account's presses come over its connection).
pub(crate) fn of(account: &DingTalkAccount) -> Option<CardRoute> {
    let card = account
        .card_callback
        .as_ref()
        .filter(|_| account.mode == ConnectionMode::Http)?;
    Some(CardRoute {
        route_key: format!("clawtalk_{}", account.client_id),
        url: card.url.as_str().to_owned(),
        api_secret: card.api_secret.clone().unwrap_or_else(|| derived_secret(account)),
    })
}

/// A secret only the holder of the client secret can compute, the same on every restart and
/// replica, so none of them has to store one or re-register with a new one. It is an
/// HMAC-SHA256 keyed with the client secret, over a label and the client id (the card
/// signature function is that HMAC, Base64-encoded).
fn derived_secret(account: &DingTalkAccount) -> Secret {
    let label = format!("clawtalk card callback apiSecret\n{}", account.client_id);
    Secret::new(dingtalk::crypto::card_callback_signature(
        account.client_secret.expose(),
        &label,
    ))
}

/// Registers the account's route, retrying with growing pauses until DingTalk has it, the
/// account is removed, a reload changes its route (the new route's own task takes over), or
/// the gateway stops. Started with the account, and by a reload that changes the route; a
/// route that is already bound as wanted costs one call.
pub(crate) async fn keep_registered(shared: Arc<Shared>, account: DingTalkAccount) {
    let Some(route) = of(&account) else {
        return;
    };
    let Some(runtime) = shared.account(&account.id) else {
        return;
    };
    let (api, stop) = (runtime.api.clone(), runtime.control.stop.clone());
    drop(runtime);
    let mut wait = FIRST_RETRY;
    let still_wanted = || {
        shared
            .config()
            .enabled_accounts()
            .find(|a| a.id == account.id)
            .and_then(of)
            .is_some_and(|now| now == route)
    };
    loop {
        if !still_wanted() {
            return;
        }
        match register(&api, &route).await {
            Ok(replaced) => {
                tracing::info!(account = %account.id, route_key = %route.route_key, url = %route.url, replaced, "card callback route registered; card presses come over HTTP");
                return;
            }
            Err(error) => {
                tracing::error!(account = %account.id, route_key = %route.route_key, %error, retry_in = ?wait,
                    "cannot register the card callback route: presses on this account's cards (approvals too) cannot reach the gateway until it succeeds; check the app's Card.Instance.Write permission and cardCallbackUrl");
            }
        }
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(MAX_RETRY);
    }
}

/// One registration: as asked, or, when DingTalk kept an older binding of the key (another
/// URL or secret: a moved gateway, a changed secret) or did not report the binding,
/// confirmed with `forceUpdate` as the documentation's two-step flow asks. Returns whether
/// the confirmation was needed.
async fn register(api: &OpenApiClient, route: &CardRoute) -> Result<bool, dingtalk::Error> {
    let mut request = RegisterCardCallbackRequest {
        callback_route_key: route.route_key.clone(),
        callback_url: route.url.clone(),
        api_secret: route.api_secret.clone(),
        force_update: false,
    };
    match api.register_card_callback(&request).await {
        Ok(answer) if answer.binds(&request) => return Ok(false),
        Ok(answer) => {
            let was = answer.result.and_then(|r| r.callback_url);
            tracing::info!(route_key = %route.route_key, was = ?was, "the card callback route is bound to another URL or secret (or DingTalk did not say); confirming ours with forceUpdate");
        }
        // The error the register API documents for a bound key, in case it answers so.
        Err(error)
            if error
                .api()
                .is_some_and(|e| e.code == "param.callbackRouteKeyExist") => {}
        Err(error) => return Err(error),
    }
    request.force_update = true;
    api.register_card_callback(&request).await.map(|_| true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_config::test_support::config;

    fn account(extra: &str) -> DingTalkAccount {
        config(&format!(
            r#"{{ agents: {{ list: [ {{ id: "main", model: "deepseek/deepseek-chat" }} ] }},
                  channels: {{ dingtalk: {{ clientId: "dingbot", clientSecret: "s", {extra} }} }} }}"#
        ))
        .accounts[0]
            .clone()
    }

    #[test]
    fn only_http_accounts_with_a_url_have_a_route() {
        let url = r#"cardCallbackUrl: "https://bot.example.com/webhooks/dingtalk/default/card""#;
        assert!(
            of(&account(url)).is_none(),
            "Stream: presses come over the connection"
        );
        assert!(of(&account(r#"mode: "http""#)).is_none());
        let route = of(&account(&format!(r#"mode: "http", {url}"#))).unwrap();
        assert_eq!(route.route_key, "clawtalk_dingbot");
        assert_eq!(
            route.url,
            "https://bot.example.com/webhooks/dingtalk/default/card"
        );
        assert!(!format!("{route:?}").contains(route.api_secret.expose()));
    }

    #[tokio::test]
    async fn a_route_bound_as_wanted_costs_one_call_and_an_older_binding_is_confirmed_away() {
        use dingtalk_sim::{AppSpec, SimConfig, Simulator};
        const PATH: &str = "/v1.0/card/callbacks/register";
        let sim = Simulator::start_with(SimConfig::fast()).await.unwrap();
        sim.create_app(AppSpec::new("dingbot", "s")).unwrap();
        let account = account(&format!(
            r#"mode: "http", endpoints: "{}", cardCallbackUrl: "https://b.example/webhooks/dingtalk/default/card""#,
            sim.base_url()
        ));
        let api = crate::accounts::api_client(&account);
        let route = of(&account).unwrap();
        assert!(
            !register(&api, &route).await.unwrap(),
            "a new key is bound at once"
        );
        assert!(!register(&api, &route).await.unwrap());
        assert_eq!(sim.api_call_count("dingbot", PATH), 2, "one call each");

        let moved = CardRoute {
            url: "https://moved.example/webhooks/dingtalk/default/card".into(),
            ..route.clone()
        };
        assert!(
            register(&api, &moved).await.unwrap(),
            "the older binding needed forceUpdate"
        );
        assert_eq!(sim.api_call_count("dingbot", PATH), 4);
        let bound = sim.card_callback_routes();
        assert_eq!(bound[0].url, moved.url);
        assert_eq!(bound[0].api_secret.as_deref(), Some(route.api_secret.expose()));
    }

    #[test]
    fn the_derived_secret_is_stable_and_depends_on_the_client_secret() {
        let url = r#"mode: "http", cardCallbackUrl: "https://b.example/webhooks/dingtalk/default/card""#;
        let a = of(&account(url)).unwrap().api_secret;
        assert_eq!(a, of(&account(url)).unwrap().api_secret);
        assert!(a.expose().len() >= 40 && a.expose() != "s");
        let other = account(url);
        let other = DingTalkAccount {
            client_secret: Secret::new("another"),
            ..other
        };
        assert_ne!(of(&other).unwrap().api_secret, a);
        let configured = of(&account(&format!(r#"{url}, cardCallbackSecret: "mine""#))).unwrap();
        assert_eq!(configured.api_secret.expose(), "mine");
    }
}
