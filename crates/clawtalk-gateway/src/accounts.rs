//! What the gateway holds for each enabled DingTalk account: one [`AccountRuntime`] per
//! account, built once at start.

use std::collections::HashMap;
use std::sync::Arc;

use dingtalk::api::OpenApiClient;
use dingtalk::ids::RobotCode;

use crate::departments::Departments;
use crate::intake::lanes::{LaneReceiver, LaneSender};
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

/// The runtimes of every enabled account, by account id.
pub(crate) type Accounts = HashMap<AccountId, AccountRuntime>;

/// What [`build`] makes.
pub(crate) struct Built {
    pub accounts: Accounts,
    /// What each account's intake lanes read, for `intake::lanes::run`.
    pub lanes: Vec<(DingTalkAccount, LaneReceiver)>,
}

/// Builds the runtime of every enabled account.
pub(crate) fn build(config: &Config, store: &Arc<dyn Store>, clock: &Arc<dyn Clock>) -> Built {
    let mut accounts = HashMap::new();
    let mut lanes = Vec::new();
    for account in config.enabled_accounts() {
        let api = api_client(account);
        let robot_code = RobotCode::new(account.robot_code.clone());
        let cards = CardAccount::new(api.clone(), robot_code, account.card.clone())
            .with_shared_budget(SharedBudget::of(store.shared_rate_budget(), clock))
            .with_clock(Arc::clone(clock));
        let departments = clawtalk_config::routing::routes_by_department(config, account)
            .then(|| Departments::new(api.clone()));
        let outbound = delivery_stack(account, api.clone(), store.shared_rate_budget(), clock);
        let (lane_sender, lane_receiver) = tokio::sync::mpsc::unbounded_channel();
        lanes.push((account.clone(), lane_receiver));
        accounts.insert(
            AccountId::new(account.id.as_str()),
            AccountRuntime {
                outbound,
                cards: Arc::new(cards),
                departments,
                api,
                lanes: lane_sender,
            },
        );
    }
    Built { accounts, lanes }
}

/// The account's OpenAPI client: its credentials against its endpoints. The gateway's
/// runtime and `clawtalk message send` both build theirs here.
#[must_use]
pub fn api_client(account: &DingTalkAccount) -> OpenApiClient {
    OpenApiClient::builder(
        dingtalk::ids::ClientId::new(account.client_id.as_str()),
        account.client_secret.clone(),
    )
    .account(account.id.as_str())
    .endpoints(account.endpoints.clone())
    .build()
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
