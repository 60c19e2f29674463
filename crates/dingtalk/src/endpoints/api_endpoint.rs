//! Names of the DingTalk HTTP calls this crate makes, shared by metrics, logs and errors.

use std::fmt;

/// Every DingTalk HTTP call this crate can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ApiEndpoint {
    /// `POST /v1.0/oauth2/accessToken`.
    AccessToken,
    /// Legacy `GET /gettoken`.
    LegacyToken,
    /// `POST /v1.0/robot/oToMessages/batchSend`.
    BatchSend,
    /// `POST /v1.0/robot/groupMessages/send`.
    GroupSend,
    /// `POST /v1.0/robot/otoMessages/batchRecall`.
    RecallDm,
    /// `POST /v1.0/robot/groupMessages/recall`.
    RecallGroup,
    /// `POST /v1.0/robot/messageFiles/download` (returns a temporary URL).
    MessageFileDownload,
    /// `GET` of the temporary download URL.
    MediaDownload,
    /// Legacy `POST /media/upload`.
    MediaUpload,
    /// `POST /v1.0/card/instances/createAndDeliver`.
    CardCreateAndDeliver,
    /// `PUT /v1.0/card/streaming`.
    CardStreaming,
    /// `PUT /v1.0/card/instances`.
    CardUpdate,
    /// `POST <sessionWebhook>`.
    SessionWebhook,
    /// `POST <custom robot webhook>`.
    CustomRobot,
    /// Legacy `POST /topapi/v2/user/get` (a user's departments).
    UserGet,
    /// `POST /v1.0/card/callbacks/register`.
    CardCallbackRegister,
}

impl ApiEndpoint {
    /// All endpoints, in counter order.
    pub const ALL: [Self; 16] = [
        Self::AccessToken,
        Self::LegacyToken,
        Self::BatchSend,
        Self::GroupSend,
        Self::RecallDm,
        Self::RecallGroup,
        Self::MessageFileDownload,
        Self::MediaDownload,
        Self::MediaUpload,
        Self::CardCreateAndDeliver,
        Self::CardStreaming,
        Self::CardUpdate,
        Self::SessionWebhook,
        Self::CustomRobot,
        Self::UserGet,
        Self::CardCallbackRegister,
    ];

    /// Stable short name used in logs, errors and metrics.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::AccessToken => "oauth2.accessToken",
            Self::LegacyToken => "gettoken",
            Self::BatchSend => "robot.batchSend",
            Self::GroupSend => "robot.groupSend",
            Self::RecallDm => "robot.recallDm",
            Self::RecallGroup => "robot.recallGroup",
            Self::MessageFileDownload => "robot.messageFiles.download",
            Self::MediaDownload => "media.download",
            Self::MediaUpload => "media.upload",
            Self::CardCreateAndDeliver => "card.createAndDeliver",
            Self::CardStreaming => "card.streaming",
            Self::CardUpdate => "card.update",
            Self::SessionWebhook => "sessionWebhook",
            Self::CustomRobot => "customRobot.send",
            Self::UserGet => "contact.userGet",
            Self::CardCallbackRegister => "card.callbacks.register",
        }
    }

    /// True for the `/v1.0/card/*` calls.
    #[must_use]
    pub const fn is_card(self) -> bool {
        matches!(
            self,
            Self::CardCreateAndDeliver | Self::CardStreaming | Self::CardUpdate
        )
    }

    /// Whether `name` is [`ApiEndpoint::name`] of an access-token fetch (errors keep only the
    /// name). A token fetch carries nothing for DingTalk to act on, so one that failed halfway
    /// can be repeated, and a call that failed in its token fetch never left.
    pub(crate) fn is_token_name(name: &str) -> bool {
        name == Self::AccessToken.name() || name == Self::LegacyToken.name()
    }

    /// Position in [`ApiEndpoint::ALL`], the index of its counter.
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ApiEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = ApiEndpoint::ALL.iter().map(|e| e.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ApiEndpoint::ALL.len());
        for (i, e) in ApiEndpoint::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
        }
    }
}
