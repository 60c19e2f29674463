//! The best first-text times DingTalk's card quota allows, whatever the gateway does.
//!
//! Every card answer needs at least one call that puts text on screen (a create carrying
//! text, or a streaming update), and each card API takes `qps` calls a second per app. Serve
//! users in arrival order, each as soon as its first token exists and a call is free: user
//! k's text cannot show before `slot_k = max(arrival_k + ttft, slot_{k-1} + 1/qps)`. No
//! schedule does better at the percentiles, since any other order only moves later slots to
//! earlier arrivals.

use std::time::Duration;

/// First-text latency (from each user's message) under the best schedule.
pub fn first_text_bounds(arrivals: &[Duration], ttft: Duration, qps: u32) -> Vec<Duration> {
    let gap = Duration::from_secs_f64(1.0 / f64::from(qps.max(1)));
    let mut slot = Duration::ZERO;
    let mut bounds = Vec::with_capacity(arrivals.len());
    for (k, arrival) in arrivals.iter().enumerate() {
        let ready = *arrival + ttft;
        slot = if k == 0 { ready } else { ready.max(slot + gap) };
        bounds.push(slot - *arrival);
    }
    bounds
}
