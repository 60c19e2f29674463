//! The outbox's side of a part's [`Handover`]: the part is marked `Handed` just before each
//! request that carries it leaves, and `Planned` again when DingTalk refused it. A run that
//! finds a part `Handed` by a run that ended treats it as delivered, so a reply a replica
//! handed to DingTalk in the instant it died is not sent a second time
//! (`clawtalk_delivery::handover` says why the mark goes before the request).

use std::sync::Arc;

use async_trait::async_trait;

use crate::Shared;
use clawtalk_delivery::{Handover, HandoverLog};
use clawtalk_store::ReplyPartId;

struct PartHandover {
    shared: Arc<Shared>,
    id: ReplyPartId,
}

#[async_trait]
impl HandoverLog for PartHandover {
    async fn handing_over(&self) -> Result<bool, String> {
        self.shared
            .store
            .mark_reply_handed(self.id, self.shared.clock.now())
            .await
            .map_err(|e| e.to_string())
    }

    async fn not_taken(&self) {
        let marked = self
            .shared
            .store
            .mark_reply_not_taken(self.id, self.shared.clock.now())
            .await;
        if let Err(error) = marked {
            // The sender goes on as usual; only a crash before its next mark would leave the
            // part taken for delivered.
            tracing::warn!(part = self.id, %error, "cannot record that DingTalk refused a reply part");
        }
    }
}

/// The handover of outbox part `id`.
pub(super) fn of_part(shared: &Arc<Shared>, id: ReplyPartId) -> Handover {
    Handover::new(Arc::new(PartHandover {
        shared: Arc::clone(shared),
        id,
    }))
}
