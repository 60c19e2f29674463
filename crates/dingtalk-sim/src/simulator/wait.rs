//! Waiting for the simulated platform to see something happen.

use std::time::Duration;

use crate::error::Result;
use crate::model::{ConnectionInfo, Delivery, DeliveryStatus, HttpPushRecord, SentMessage};

use super::Simulator;

impl Simulator {
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
                    .stream
                    .order
                    .iter()
                    .filter_map(|id| st.stream.conns.get(id))
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
                st.stream
                    .conns
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

    /// Waits until a message the bots sent after the first `from` contains `needle`;
    /// returns how many had been sent by then.
    pub async fn wait_for_sent_containing(
        &self,
        from: usize,
        needle: &str,
        timeout: Duration,
    ) -> Result<usize> {
        self.shared
            .wait_for(&format!("a sent message containing {needle:?}"), timeout, |st| {
                let later = st.sent.get(from..).unwrap_or_default();
                later
                    .iter()
                    .any(|m| m.text.contains(needle))
                    .then_some(st.sent.len())
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

    /// Waits until at least `n` HTTP pushes were recorded.
    pub async fn wait_for_http_pushes(&self, n: usize, timeout: Duration) -> Result<Vec<HttpPushRecord>> {
        self.shared
            .wait_for(&format!("{n} HTTP push(es)"), timeout, |st| {
                (st.http_push.log.len() >= n).then(|| st.http_push.log.clone())
            })
            .await
    }
}
