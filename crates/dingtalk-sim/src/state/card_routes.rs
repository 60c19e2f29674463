//! Card callback routes (`POST /v1.0/card/callbacks/register`): which URL, signed with which
//! `apiSecret`, receives the presses on an app's `callbackType: HTTP` cards.
//!
//! Semantics from open.dingtalk.com/document/development/event-callback-card ("注册回调地址"):
//! a first registration binds the key; registering a bound key again without `forceUpdate`
//! keeps the old binding and answers it, so the caller can compare and confirm with
//! `forceUpdate: true`, which replaces it (and so moves every card using the key).

use crate::model::CardCallbackRoute;

use super::State;

/// What a registration call did.
pub(crate) enum Registered {
    /// The key is bound as asked (newly, again with the same values, or replaced).
    Bound(CardCallbackRoute),
    /// The key was bound to something else and `forceUpdate` was not set: kept as it was.
    Kept(CardCallbackRoute),
}

impl State {
    /// Registers `route_key` of `app` (see the module docs for `force_update`).
    pub fn register_card_route(
        &mut self,
        app: &str,
        route_key: &str,
        url: &str,
        api_secret: Option<&str>,
        force_update: bool,
    ) -> Registered {
        let key = (app.to_owned(), route_key.to_owned());
        let wanted = |updates| CardCallbackRoute {
            app: app.to_owned(),
            route_key: route_key.to_owned(),
            url: url.to_owned(),
            api_secret: api_secret.map(str::to_owned),
            updates,
        };
        match self.card_routes.get(&key) {
            Some(old) if old.url == url && old.api_secret.as_deref() == api_secret => {
                Registered::Bound(old.clone())
            }
            Some(old) if !force_update => Registered::Kept(old.clone()),
            old => {
                let route = wanted(old.map_or(1, |o| o.updates + 1));
                self.card_routes.insert(key, route.clone());
                Registered::Bound(route)
            }
        }
    }

    /// The route `app` registered under `route_key`.
    pub fn card_route_of(&self, app: &str, route_key: &str) -> Option<&CardCallbackRoute> {
        self.card_routes.get(&(app.to_owned(), route_key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(r: Registered) -> CardCallbackRoute {
        match r {
            Registered::Bound(route) => route,
            Registered::Kept(route) => panic!("kept {route:?}"),
        }
    }

    #[test]
    fn a_bound_key_changes_only_with_force_update() {
        let mut st = State::default();
        let first = bound(st.register_card_route("app", "k", "https://a/cb", Some("s"), false));
        assert_eq!(first.updates, 1);
        // The same values again: bound as asked, nothing changes.
        assert_eq!(
            bound(st.register_card_route("app", "k", "https://a/cb", Some("s"), false)),
            first
        );
        match st.register_card_route("app", "k", "https://b/cb", Some("s"), false) {
            Registered::Kept(old) => assert_eq!(old.url, "https://a/cb"),
            Registered::Bound(_) => panic!("replaced without forceUpdate"),
        }
        let replaced = bound(st.register_card_route("app", "k", "https://b/cb", Some("t"), true));
        assert_eq!((replaced.url.as_str(), replaced.updates), ("https://b/cb", 2));
        assert_eq!(st.card_route_of("app", "k"), Some(&replaced));
        assert_eq!(st.card_route_of("other", "k"), None, "keys are per app");
    }
}
