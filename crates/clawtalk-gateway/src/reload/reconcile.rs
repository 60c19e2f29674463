//! Accounts after a reload: each enabled account of the new configuration against the
//! runtime the gateway holds for it.

use std::sync::Arc;

use crate::Shared;
use crate::account_tasks;
use crate::accounts;
use crate::card_route;
use crate::http::{self, Endpoints};
use clawtalk_config::{Config, ConnectionMode, DingTalkAccount};
use clawtalk_core::ids::AccountId;

/// Connects added accounts, rebuilds changed ones (reconnecting only when what the Stream
/// connection is made of changed), and drains removed or disabled ones. Returns what it did.
pub(crate) fn accounts(shared: &Arc<Shared>, running: &Config, next: &Config) -> Vec<String> {
    let mut changes = Vec::new();
    for account in next.enabled_accounts() {
        let id = account.id.as_str();
        let Some(runtime) = shared.account(id) else {
            account_tasks::start(shared, next, account);
            changes.push(format!("account {id}: added, connecting"));
            continue;
        };
        if runtime.control.stop.is_cancelled() {
            tracing::warn!(
                account = id,
                "account added back while it still drains; reload again once it has drained"
            );
            changes.push(format!(
                "account {id}: still draining from its removal; reload again later"
            ));
            continue;
        }
        let departments = clawtalk_config::routing::routes_by_department(next, account);
        let was_departments = clawtalk_config::routing::routes_by_department(running, account);
        if *runtime.settings == *account && departments == was_departments {
            continue;
        }
        let rebuilt = accounts::build_one(
            next,
            account,
            &shared.store,
            &shared.clock,
            runtime.lanes.clone(),
            Arc::clone(&runtime.control),
            &shared.usage,
        );
        shared.accounts.insert(AccountId::new(id), Arc::new(rebuilt));
        if connection_changed(&runtime.settings, account) {
            account_tasks::disconnect(shared, id);
            if account.mode == ConnectionMode::Stream {
                account_tasks::connect(shared, account);
                changes.push(format!("account {id}: connection settings changed, reconnecting"));
            } else {
                changes.push(format!("account {id}: no longer on Stream, disconnected"));
            }
        } else {
            changes.push(format!("account {id}: settings changed, connection kept"));
        }
    }
    for (id, runtime) in shared.accounts.all() {
        let kept = next.enabled_accounts().any(|a| a.id == id.as_str());
        if !kept && !runtime.control.stop.is_cancelled() {
            changes.push(format!("account {id}: removed or disabled, draining"));
            shared
                .tasks
                .spawn(account_tasks::retire(Arc::clone(shared), id.as_str().to_owned()));
        }
    }
    changes
}

/// Serves the webhooks of `next` from the next request on (an added HTTP-mode account, event
/// push or outgoing robot is served at once; a removed one gets 404), and registers the card
/// callback route of each account whose route is new or changed. Returns what it did.
pub(crate) fn webhooks(
    shared: &Arc<Shared>,
    running: &Config,
    next: &Config,
    endpoints: Endpoints,
) -> Vec<String> {
    let served = |config: &Config| -> Vec<(String, DingTalkAccount)> {
        http::served(config).map(|a| (a.id.clone(), a.clone())).collect()
    };
    let mut changes = Vec::new();
    if served(running) != served(next) {
        shared.webhooks.replace(endpoints);
        let paths = http::webhook_paths(shared).unwrap_or_else(|| "none".to_owned());
        changes.push(format!("webhooks: now serving {paths}"));
        if shared.status.http_addr().is_none() {
            tracing::warn!(
                "config reload: the HTTP listener did not start (its port was taken), so the webhooks wait for a restart"
            );
        }
    }
    for account in next.enabled_accounts() {
        let Some(route) = card_route::of(account) else {
            continue;
        };
        let was = running
            .enabled_accounts()
            .find(|a| a.id == account.id)
            .and_then(card_route::of);
        if was.as_ref() != Some(&route) {
            account_tasks::register_card_route(shared, account);
            changes.push(format!(
                "account {}: registering its card callback route",
                account.id
            ));
        }
    }
    changes
}

/// Whether the account's Stream connection must be opened again: it is made of the
/// credentials, the endpoints and the keep-alive, and exists only in Stream mode.
fn connection_changed(was: &DingTalkAccount, now: &DingTalkAccount) -> bool {
    was.mode != now.mode
        || was.client_id != now.client_id
        || was.client_secret != now.client_secret
        || was.endpoints != now.endpoints
        || was.stream_idle_timeout != now.stream_idle_timeout
}
