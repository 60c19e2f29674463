//! Typed identifiers.
//!
//! DingTalk uses a dozen kinds of opaque string ids and several of them look alike
//! (`clientId` doubles as `robotCode` for internal apps, `senderId` is *not* a staff id).
//! A newtype per kind lets the compiler catch a `ConversationId` passed where a
//! `StaffId` belongs. Ids are case-sensitive and kept byte for byte.
//!
//! An id is made only with its `new` (or by deserialising): no `From` conversion and no
//! `Default`, so a stray string or an empty id never becomes one without being spelled out.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a raw id.
            pub fn new(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }

            /// The raw id as DingTalk sends it.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// True when DingTalk sent an empty string (e.g. `senderStaffId` of an external member).
            #[must_use]
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }

            /// Unwraps the raw id.
            #[must_use]
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// App identity (AppKey / SuiteKey). Also the robot code of an internal app's bot.
    ClientId
);
string_id!(
    /// Bot code required by every robot send API; absent for custom (webhook) robots.
    RobotCode
);
string_id!(
    /// Organisation id (`chatbotCorpId`, `senderCorpId`, `eventCorpId`).
    CorpId
);
string_id!(
    /// Org-internal user id (`senderStaffId`, `atUsers[].staffId`); the `userIds` of batchSend.
    StaffId
);
string_id!(
    /// Cross-organisation user id.
    UnionId
);
string_id!(
    /// Encrypted per-app user id of the form `$:LWCP_v1:$…` (`senderId`, `chatbotUserId`, `dingtalkId`).
    /// Not usable where a staff id is expected.
    DingtalkId
);
string_id!(
    /// `cid…` conversation id; for groups it is the `openConversationId` accepted by group APIs.
    ConversationId
);
string_id!(
    /// Platform message id, stable across redeliveries: the dedup key for bot messages.
    MsgId
);
string_id!(
    /// Stream delivery id (`headers.messageId`), one per push, echoed in the ACK.
    MessageId
);
string_id!(
    /// Unique event id of an EVENT frame or HTTP push: the dedup key for events.
    EventId
);
string_id!(
    /// Id returned by robot send APIs and card delivery (`carrierId`), used for recall.
    ProcessQueryKey
);
string_id!(
    /// Caller-chosen id of a card instance.
    OutTrackId
);
string_id!(
    /// Code for downloading inbound media through `messageFiles/download`.
    DownloadCode
);
string_id!(
    /// Id of uploaded media (`media_id`), usable in `sampleImageMsg`, `sampleFile` and markdown.
    MediaId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialize_as_plain_strings_and_keep_case() {
        let id = ConversationId::new("cidGk2Zz9Lw0pQxRtY7uVb3nM1Q==");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"cidGk2Zz9Lw0pQxRtY7uVb3nM1Q==\"");
        let back: ConversationId = serde_json::from_str(&json).unwrap();
        assert_eq!(back.as_str(), "cidGk2Zz9Lw0pQxRtY7uVb3nM1Q==");
        assert_ne!(back, ConversationId::new("cidgk2zz9lw0pqxrty7uvb3nm1q=="));
    }

    #[test]
    fn debug_names_the_kind() {
        assert_eq!(format!("{:?}", StaffId::new("031")), "StaffId(\"031\")");
    }
}
