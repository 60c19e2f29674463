//! What the gateway holds for each enabled DingTalk account: one [`AccountRuntime`] per
//! account, built at start and rebuilt by a reload that changes the account's settings
//! (its lanes, Stream connection and [`AccountControl`] carry over).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::account_control::AccountControl;

use dingtalk::api::{ApiMetrics, OpenApiClient, OpenApiClientBuilder};
use dingtalk::ids::RobotCode;

use crate::departments::Departments;
use crate::intake::lanes::{LaneReceiver, LaneSender};
use crate::usage::meter::UsageMeter;
use clawtalk_config::{Config, DingTalkAccount};
use clawtalk_core::clock::Clock;
use clawtalk_core::ids::AccountId;
use clawtalk_delivery::card::CardAccount;
use clawtalk_delivery::{
    DeliveryStack, DingTalkOutbound, Outbound, RateLimitConfig, RetryPolicy, SharedBudget,
};
use clawtalk_store::{RateBudgetStore, Store};

/// One account's connections to DingTalk.
pub(crate) struct AccountRuntime {
    /// The account's settings this runtime was built from: the running config's, or the
    /// last ones of an account a reload removed while it drains.
    pub settings: Arc<DingTalkAccount>,
    /// What outlives a rebuild: stopping, the Stream connection, turns in flight.
    pub control: Arc<AccountControl>,
    /// The delivery stack every message sent as the account goes through.
    pub outbound: Arc<dyn Outbound>,
    /// AI card machinery (every account has one; only card-mode ones use it).
    pub cards: Arc<CardAccount>,
    /// Department lookups, only when bindings of the account route by department.
    pub departments: Option<Departments>,
    /// The OpenAPI client (media downloads, API call figures).
    pub api: OpenApiClient,
    /// Where its Stream connection and HTTP callbacks hand bot messages in.
    pub lanes: LaneSender,
}

/// The runtimes of the accounts, by account id (the enabled ones, and removed ones until
/// they have drained).
#[derive(Default)]
pub(crate) struct Accounts(RwLock<HashMap<AccountId, Arc<AccountRuntime>>>);

impl Accounts {
    pub(crate) fn get(&self, id: &str) -> Option<Arc<AccountRuntime>> {
        self.read().get(id).cloned()
    }

    /// Every runtime, by id.
    pub(crate) fn all(&self) -> Vec<(AccountId, Arc<AccountRuntime>)> {
        self.read()
            .iter()
            .map(|(id, runtime)| (id.clone(), Arc::clone(runtime)))
            .collect()
    }

    pub(crate) fn insert(&self, id: AccountId, runtime: Arc<AccountRuntime>) {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, runtime);
    }

    pub(crate) fn remove(&self, id: &str) {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<AccountId, Arc<AccountRuntime>>> {
        // Writers only insert or remove an Arc: a poisoned map is still whole.
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A new account's lanes: where its sources hand messages in, and what the lanes task reads.
pub(crate) fn lanes() -> (LaneSender, LaneReceiver) {
    tokio::sync::mpsc::unbounded_channel()
}

/// The runtime of `account` under `config`, around its `lanes` and `control`.
pub(crate) fn build_one(
    config: &Config,
    account: &DingTalkAccount,
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    lanes: LaneSender,
    control: Arc<AccountControl>,
    usage: &Arc<UsageMeter>,
) -> AccountRuntime {
    let api = metered_api_client(account, usage);
    let robot_code = RobotCode::new(account.robot_code.clone());
    let cards = CardAccount::new(api.clone(), robot_code, account.card.clone())
        .with_shared_budget(SharedBudget::of(store.shared_rate_budget(), clock))
        .with_clock(Arc::clone(clock))
        .with_http_callback(crate::card_route::of(account).map(|route| route.route_key));
    let departments = clawtalk_config::routing::routes_by_department(config, account)
        .then(|| Departments::new(api.clone()));
    let outbound = delivery_stack(account, api.clone(), store.shared_rate_budget(), clock);
    AccountRuntime {
        settings: Arc::new(account.clone()),
        control,
        outbound,
        cards: Arc::new(cards),
        departments,
        api,
        lanes,
    }
}

/// The account's OpenAPI client: its credentials against its endpoints. The gateway's
/// runtime and `clawtalk message send` both build theirs here.
#[must_use]
pub fn api_client(account: &DingTalkAccount) -> OpenApiClient {
    api_builder(account).build()
}

fn api_builder(account: &DingTalkAccount) -> OpenApiClientBuilder {
    OpenApiClient::builder(
        dingtalk::ids::ClientId::new(account.client_id.as_str()),
        account.client_secret.clone(),
    )
    .account(account.id.as_str())
    .endpoints(account.endpoints.clone())
}

/// [`api_client`] whose every call (the same ones `/metrics` counts) is also counted in the
/// account's usage, with DingTalk's "quota used up" answers.
fn metered_api_client(account: &DingTalkAccount, usage: &Arc<UsageMeter>) -> OpenApiClient {
    let (calls, refusals) = (Arc::clone(usage), Arc::clone(usage));
    let (account_id, refused_account) = (account.id.clone(), account.id.clone());
    let metrics = ApiMetrics::with_hook(Arc::new(move |endpoint| calls.api_call(&account_id, endpoint)))
        .with_quota_hook(Arc::new(move |_| refusals.quota_error(&refused_account)));
    api_builder(account).metrics(Arc::new(metrics)).build()
}

/// The layers every send as `account` goes through, the gateway's and `clawtalk message
/// send`'s alike: DingTalk's OpenAPI under retries and the account's rate limits, which take
/// from `shared_budget` too when replicas share one; "now" is `clock`'s.
pub fn account_stack(
    account: &DingTalkAccount,
    api: OpenApiClient,
    shared_budget: Option<Arc<dyn RateBudgetStore>>,
    clock: &Arc<dyn Clock>,
) -> DeliveryStack {
    let sender = DingTalkOutbound::new(
        account.id.clone(),
        RobotCode::new(account.robot_code.clone()),
        api,
    )
    .with_clock(Arc::clone(clock));
    DeliveryStack::new(Arc::new(sender))
        .with_retry(RetryPolicy::default())
        .with_rate_limit(RateLimitConfig::for_account(account))
        .with_shared_budget(SharedBudget::of(shared_budget, clock))
}

fn delivery_stack(
    account: &DingTalkAccount,
    api: OpenApiClient,
    shared_budget: Option<Arc<dyn RateBudgetStore>>,
    clock: &Arc<dyn Clock>,
) -> Arc<dyn Outbound> {
    let stack = account_stack(account, api, shared_budget, clock).with_trace();
    match account.custom_robot_target() {
        Some(robot) => stack.with_custom_robot(robot).build(),
        None => stack.build(),
    }
}
