//! Public data types of the simulator: the organisation (apps, users, groups), the records it
//! keeps (connections, deliveries, pings, violations, messages, cards, HTTP pushes) and the
//! requests that drive it (injections, custom robots, HTTP push settings, API faults).
//!
//! All of them serialize to the snake_case JSON the control API speaks.

mod cards;
mod custom_robot;
mod delivery;
mod directory;
mod faults;
mod http_push;
mod inject;
mod messages;
mod stream;
mod violation;

pub use cards::{Card, CardCallbackRoute, CardSpace, CardStatus, StreamUpdate};
pub use custom_robot::{CustomRobot, CustomRobotSpec};
pub use delivery::{Delivery, DeliveryKind, DeliveryStatus, Push, PushOutcome};
pub use directory::{
    ALL_SCOPES, App, AppPatch, AppSpec, Group, GroupSpec, SCOPE_CARD_INSTANCE, SCOPE_CARD_STREAMING,
    SCOPE_CONTACT_READ, SCOPE_ROBOT_SEND, User, UserSpec,
};
pub use faults::ApiFault;
pub use http_push::{HttpPushRecord, HttpPushSpec};
pub use inject::{
    InjectCardCallback, InjectEvent, InjectMessage, Injected, MediaSpec, MessageSpec, PressButton, Pressed,
    RichSegment, TOPIC_BOT_MESSAGE, TOPIC_CARD_CALLBACK,
};
pub use messages::{SentMessage, SentTarget, UserMessage};
pub use stream::{ConnectionInfo, FrameCut, OpenRecord, PingRecord, Subscription};
pub use violation::Violation;
