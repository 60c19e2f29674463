//! The [`Simulator`] handle: start/stop, and the Rust twin of the control API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use url::Url;

use crate::config::SimConfig;
use crate::directory::AppPatch;
use crate::error::{Result, SimError};
use crate::faults::ApiFault;
use crate::inject::{InjectCardCallback, InjectEvent, InjectMessage, Injected};
use crate::model::{
    App, AppSpec, ConnectionInfo, Delivery, DeliveryStatus, FrameCut, Group, GroupSpec, OpenRecord,
    PingRecord, SentMessage, User, UserMessage, UserSpec, Violation,
};
use crate::state::{ConnCmd, Shared};

/// Calls of one API by one app.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiCallCount {
    /// Client id, or `-` when the token was invalid.
    pub app: String,
    /// Path.
    pub path: String,
    /// Calls.
    pub count: u64,
}

/// A running simulator. Dropping it stops the server (like [`Simulator::shutdown`], without waiting).
pub struct Simulator {
    pub(crate) shared: Arc<Shared>,
    addr: SocketAddr,
    server: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Starts on `127.0.0.1:0` with production timings.
    pub async fn start() -> Result<Self> {
        Self::start_with(SimConfig::default()).await
    }

    /// Starts on `127.0.0.1:0` with `config`.
    pub async fn start_with(config: SimConfig) -> Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts on `addr` with `config`.
    pub async fn start_on(addr: SocketAddr, config: SimConfig) -> Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let base_url = match &config.public_base_url {
            Some(u) => u.clone(),
            None => {
                let host = if local.ip().is_unspecified() {
                    "127.0.0.1".to_owned()
                } else {
                    local.ip().to_string()
                };
                Url::parse(&format!("http://{host}:{}/", local.port()))
                    .map_err(|e| SimError::Invalid(format!("base url: {e}")))?
            }
        };
        let shared = Arc::new(Shared::new(config, base_url));
        let router = crate::server::router(Arc::clone(&shared));
        let mut shutdown = shared.shutdown_rx();
        let server = tokio::spawn(async move {
            // Small responses must not wait for the client's delayed ACK (Nagle): real DingTalk
            // answers at once, and a 40 ms stall per call would distort every latency measured.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let result = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = shutdown.wait_for(|down| *down).await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "simulator server failed");
            }
        });
        tracing::info!(%local, "DingTalk simulator listening");
        Ok(Self {
            shared,
            addr: local,
            server: Some(server),
        })
    }

    /// Stops the server and every connection, waiting (briefly) for the server to finish.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
    }

    /// `http://127.0.0.1:PORT/`: serves the OpenAPI, the legacy API, Stream and `/_sim`.
    #[must_use]
    pub fn base_url(&self) -> Url {
        self.shared.base_url.clone()
    }

    /// [`dingtalk::Endpoints`] pointing both APIs at the simulator.
    #[must_use]
    pub fn endpoints(&self) -> dingtalk::Endpoints {
        dingtalk::Endpoints::single(self.base_url())
    }

    /// The bound socket address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// Monotonic ms since the sim started (the clock of every `*_ms` record).
    #[must_use]
    pub fn now_ms(&self) -> u64 {
        self.shared.now_ms()
    }

    // ----- directory -----

    /// Creates an app with its bot.
    pub fn create_app(&self, spec: AppSpec) -> Result<App> {
        let corp = self.shared.config.corp_id.clone();
        self.shared.mutate(|st| st.create_app(&corp, spec))
    }

    /// Changes flags, permissions or the secret of an app.
    pub fn update_app(&self, client_id: &str, patch: &AppPatch) -> Result<App> {
        self.shared.mutate(|st| st.update_app(client_id, patch))
    }

    /// Creates a user.
    pub fn create_user(&self, spec: UserSpec) -> Result<User> {
        let corp = self.shared.config.corp_id.clone();
        self.shared.mutate(|st| st.create_user(&corp, spec))
    }

    /// Creates a group.
    pub fn create_group(&self, spec: GroupSpec) -> Result<Group> {
        self.shared.mutate(|st| st.create_group(spec))
    }

    /// Puts an app's bot into a group.
    pub fn add_bot_to_group(&self, open_conversation_id: &str, client_id: &str) -> Result<Group> {
        self.shared
            .mutate(|st| st.add_bot_to_group(open_conversation_id, client_id))
    }

    /// Removes an app's bot from a group.
    pub fn remove_bot_from_group(&self, open_conversation_id: &str, client_id: &str) -> Result<Group> {
        self.shared
            .mutate(|st| st.remove_bot_from_group(open_conversation_id, client_id))
    }

    /// Adds a user to a group.
    pub fn add_group_member(&self, open_conversation_id: &str, staff_id: &str) -> Result<Group> {
        self.shared
            .mutate(|st| st.add_member(open_conversation_id, staff_id))
    }

    /// All apps.
    #[must_use]
    pub fn apps(&self) -> Vec<App> {
        self.shared.read(|st| st.apps.values().cloned().collect())
    }

    /// All users.
    #[must_use]
    pub fn users(&self) -> Vec<User> {
        self.shared.read(|st| st.users.values().cloned().collect())
    }

    /// All groups.
    #[must_use]
    pub fn groups(&self) -> Vec<Group> {
        self.shared.read(|st| st.groups.values().cloned().collect())
    }

    /// The DM conversation id between an app's bot and a user (created on first use).
    #[must_use]
    pub fn dm_conversation_id(&self, client_id: &str, staff_id: &str) -> String {
        self.shared.mutate(|st| st.dm_conversation(client_id, staff_id))
    }

    // ----- tokens and counters -----

    /// Expires every live token of the app; returns how many.
    pub fn expire_tokens(&self, client_id: &str) -> usize {
        self.shared.mutate(|st| st.expire_tokens(client_id))
    }

    /// Token requests (`accessToken` + `gettoken`) made by the app.
    #[must_use]
    pub fn token_calls(&self, client_id: &str) -> u64 {
        self.shared
            .read(|st| st.token_calls.get(client_id).copied().unwrap_or(0))
    }

    /// Calls per app and API path.
    #[must_use]
    pub fn api_calls(&self) -> Vec<ApiCallCount> {
        self.shared.read(|st| {
            st.api_calls
                .iter()
                .map(|((app, path), count)| ApiCallCount {
                    app: app.clone(),
                    path: path.clone(),
                    count: *count,
                })
                .collect()
        })
    }

    /// Calls of `path` by the app.
    #[must_use]
    pub fn api_call_count(&self, client_id: &str, path: &str) -> u64 {
        self.shared.read(|st| {
            st.api_calls
                .get(&(client_id.to_owned(), path.to_owned()))
                .copied()
                .unwrap_or(0)
        })
    }

    /// Calls of `path` answered with the QPS error.
    #[must_use]
    pub fn qps_rejections(&self, client_id: &str, path: &str) -> u64 {
        self.shared.read(|st| {
            st.faults
                .qps_rejections
                .get(&(client_id.to_owned(), path.to_owned()))
                .copied()
                .unwrap_or(0)
        })
    }

    // ----- injection -----

    /// A user sends a message (delivered to the bot when DingTalk would deliver it).
    pub fn inject_message(&self, req: &InjectMessage) -> Result<Injected> {
        inject_message(&self.shared, req)
    }

    /// The platform emits an event; returns its eventId.
    pub fn inject_event(&self, req: &InjectEvent) -> Result<String> {
        inject_event(&self.shared, req)
    }

    /// A user clicks a card button; returns the delivery key.
    pub fn inject_card_callback(&self, req: &InjectCardCallback) -> Result<String> {
        let s = Arc::clone(&self.shared);
        self.shared.mutate(|st| st.inject_card_callback(&s, req))
    }

    /// A user presses a button of an action card the bot sent (see [`crate::PressButton`]).
    pub fn press_button(&self, req: &crate::PressButton) -> Result<crate::Pressed> {
        crate::action_cards::press(&self.shared, req)
    }

    // ----- logs -----

    /// Everything the bots sent, in order.
    #[must_use]
    pub fn sent_messages(&self) -> Vec<SentMessage> {
        self.shared.read(|st| st.sent.clone())
    }

    /// How many messages the bots sent; unlike [`Simulator::sent_messages`] it copies
    /// nothing, so a benchmark can poll it without its own cost growing with the log.
    #[must_use]
    pub fn sent_count(&self) -> usize {
        self.shared.read(|st| st.sent.len())
    }

    /// Everything simulated users posted, delivered or not.
    #[must_use]
    pub fn user_messages(&self) -> Vec<UserMessage> {
        self.shared.read(|st| st.user_messages.clone())
    }

    /// Every Stream delivery with its pushes.
    #[must_use]
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.read(|st| st.deliveries.clone())
    }

    /// The delivery of a msgId / eventId / card-callback key.
    #[must_use]
    pub fn delivery(&self, key: &str) -> Option<Delivery> {
        self.shared
            .read(|st| st.deliveries.iter().find(|d| d.key == key).cloned())
    }

    /// Every Stream connection, in order of opening.
    #[must_use]
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.shared.read(|st| {
            st.conn_order
                .iter()
                .filter_map(|id| st.conns.get(id).map(|c| c.info.clone()))
                .collect()
        })
    }

    /// Open Stream connections of an app.
    #[must_use]
    pub fn open_connections(&self, client_id: &str) -> Vec<ConnectionInfo> {
        self.connections()
            .into_iter()
            .filter(|c| c.app == client_id && c.is_open())
            .collect()
    }

    /// Every SYSTEM ping sent.
    #[must_use]
    pub fn pings(&self) -> Vec<PingRecord> {
        self.shared.read(|st| st.pings.clone())
    }

    /// Protocol violations seen.
    #[must_use]
    pub fn violations(&self) -> Vec<Violation> {
        self.shared.read(|st| st.violations.clone())
    }

    /// Every `connections/open` call.
    #[must_use]
    pub fn open_log(&self) -> Vec<OpenRecord> {
        self.shared.read(|st| st.open_log.clone())
    }

    // ----- Stream faults -----

    /// Drops every open connection of the app without a close frame; returns how many.
    pub fn drop_connections(&self, client_id: &str) -> usize {
        self.shared
            .mutate(|st| st.command_app_connections(client_id, || ConnCmd::Drop))
    }

    /// Sends SYSTEM disconnect (`connection is expired`) on every open connection of the app;
    /// each closes after the grace period. Returns how many.
    pub fn send_disconnect(&self, client_id: &str) -> usize {
        let now = self.shared.now_ms();
        self.shared
            .mutate(|st| st.send_disconnect(now, client_id, "connection is expired"))
    }

    /// Turns the app's open connections into zombies (no frames, no pings, no pongs) or back.
    pub fn set_zombie(&self, client_id: &str, on: bool) -> usize {
        self.shared.mutate(|st| st.set_zombie(client_id, on))
    }

    /// Cuts each open connection of the app at its next pushed frame (see [`FrameCut`]): the
    /// push is redelivered once the client reconnects. Returns how many connections.
    pub fn cut_next_frame(&self, client_id: &str, how: FrameCut) -> usize {
        self.shared
            .mutate(|st| st.command_app_connections(client_id, || ConnCmd::Cut(how)))
    }

    // ----- API faults -----

    /// The next `n` `connections/open` calls fail with `status` (e.g. 503 or 400).
    pub fn fail_next_opens(&self, n: u32, status: u16) {
        self.add_api_fault(&ApiFault {
            path_prefix: "/v1.0/gateway/connections/open".into(),
            fail_next: Some(n),
            status: Some(status),
            ..ApiFault::default()
        });
    }

    /// Adds a path fault.
    pub fn add_api_fault(&self, fault: &ApiFault) {
        self.shared.mutate(|st| st.faults.add(fault));
    }

    /// Adds latency to every call under `path_prefix`.
    pub fn set_api_latency(&self, path_prefix: &str, latency: Duration) {
        self.add_api_fault(&ApiFault {
            path_prefix: path_prefix.into(),
            latency_ms: Some(u64::try_from(latency.as_millis()).unwrap_or(u64::MAX)),
            ..ApiFault::default()
        });
    }

    /// The next `n` calls under `path_prefix` fail with `status` and `body`
    /// (default: a DingTalk-shaped error for the status).
    pub fn fail_next_api(&self, path_prefix: &str, n: u32, status: u16, body: Option<serde_json::Value>) {
        self.add_api_fault(&ApiFault {
            path_prefix: path_prefix.into(),
            fail_next: Some(n),
            status: Some(status),
            body,
            ..ApiFault::default()
        });
    }

    /// Sets the app's QPS limit for one API path (0 = unlimited).
    pub fn set_qps_limit(&self, client_id: &str, api: &str, limit: u32) {
        self.shared.mutate(|st| {
            st.faults
                .qps_limits
                .insert((client_id.to_owned(), api.to_owned()), limit);
        });
    }

    /// Removes every path fault and QPS override.
    pub fn clear_faults(&self) {
        self.shared.mutate(|st| {
            st.faults.rules.clear();
            st.faults.qps_limits.clear();
        });
    }

    // ----- waiting -----

    /// Waits until the app has at least `n` open connections.
    pub async fn wait_for_connections(
        &self,
        client_id: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<ConnectionInfo>> {
        self.shared
            .wait_for(&format!("{n} open connection(s) of {client_id}"), timeout, |st| {
                let open: Vec<ConnectionInfo> = st
                    .conn_order
                    .iter()
                    .filter_map(|id| st.conns.get(id))
                    .filter(|c| c.info.app == client_id && c.info.is_open())
                    .map(|c| c.info.clone())
                    .collect();
                (open.len() >= n).then_some(open)
            })
            .await
    }

    /// Waits until a connection is closed.
    pub async fn wait_for_close(&self, connection_id: &str, timeout: Duration) -> Result<ConnectionInfo> {
        self.shared
            .wait_for(&format!("connection {connection_id} to close"), timeout, |st| {
                st.conns
                    .get(connection_id)
                    .filter(|c| !c.info.is_open())
                    .map(|c| c.info.clone())
            })
            .await
    }

    /// Waits until at least `n` messages were sent by bots; returns all of them.
    pub async fn wait_for_sent(&self, n: usize, timeout: Duration) -> Result<Vec<SentMessage>> {
        self.shared
            .wait_for(&format!("{n} sent message(s)"), timeout, |st| {
                (st.sent.len() >= n).then(|| st.sent.clone())
            })
            .await
    }

    /// Waits until the bots sent at least `n` messages, without copying them (see
    /// [`Simulator::sent_count`]).
    pub async fn wait_for_sent_count(&self, n: usize, timeout: Duration) -> Result<()> {
        self.shared
            .wait_for(&format!("{n} sent message(s)"), timeout, |st| {
                (st.sent.len() >= n).then_some(())
            })
            .await
    }

    /// Waits until the delivery reaches `status`.
    pub async fn wait_for_delivery(
        &self,
        key: &str,
        status: DeliveryStatus,
        timeout: Duration,
    ) -> Result<Delivery> {
        self.shared
            .wait_for(&format!("delivery {key} to be {status:?}"), timeout, |st| {
                st.deliveries
                    .iter()
                    .find(|d| d.key == key && d.status == status)
                    .cloned()
            })
            .await
    }

    /// Waits until the delivery was pushed at least `n` times.
    pub async fn wait_for_pushes(&self, key: &str, n: usize, timeout: Duration) -> Result<Delivery> {
        self.shared
            .wait_for(&format!("{n} push(es) of {key}"), timeout, |st| {
                st.deliveries
                    .iter()
                    .find(|d| d.key == key && d.pushes.len() >= n)
                    .cloned()
            })
            .await
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}

/// Shared by [`Simulator::inject_event`] and the control API: Stream delivery plus HTTP push
/// when the app has a callback URL.
pub(crate) fn inject_event(shared: &Arc<Shared>, req: &InjectEvent) -> Result<String> {
    let s = Arc::clone(shared);
    let id = shared.mutate(|st| st.inject_event(&s, req))?;
    crate::http_push::flush_outbox(shared);
    Ok(id)
}

/// Shared by [`Simulator::inject_message`] and the control API.
pub(crate) fn inject_message(shared: &Arc<Shared>, req: &InjectMessage) -> Result<Injected> {
    let s = Arc::clone(shared);
    let injected = shared.mutate(|st| st.inject_message(&s, req))?;
    crate::http_push::flush_outbox(shared);
    Ok(injected)
}
