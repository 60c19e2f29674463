//! What users and the platform do: messages, events, card clicks, action-card button
//! presses, and media for messages to carry.

use crate::error::Result;
use crate::inject;
use crate::model::{InjectCardCallback, InjectEvent, InjectMessage, Injected, PressButton, Pressed};

use super::Simulator;

impl Simulator {
    /// A user sends a message (delivered to the bot when DingTalk would deliver it).
    pub fn inject_message(&self, req: &InjectMessage) -> Result<Injected> {
        inject::user_message(&self.shared, req)
    }

    /// The platform emits an event; returns its eventId.
    pub fn inject_event(&self, req: &InjectEvent) -> Result<String> {
        inject::event(&self.shared, req)
    }

    /// A user clicks a card button; returns the delivery key.
    pub fn inject_card_callback(&self, req: &InjectCardCallback) -> Result<String> {
        inject::card_callback(&self.shared, req)
    }

    /// A user presses a button of an action card the bot sent (see [`PressButton`]).
    pub fn press_button(&self, req: &PressButton) -> Result<Pressed> {
        inject::press_button(&self.shared, req)
    }

    /// Registers downloadable bytes for an app; returns the downloadCode.
    pub fn register_download(
        &self,
        client_id: &str,
        bytes: Vec<u8>,
        content_type: &str,
        file_name: Option<&str>,
    ) -> String {
        self.shared.mutate(|st| {
            st.media.register_download(
                client_id,
                bytes,
                content_type.to_owned(),
                file_name.map(str::to_owned),
            )
        })
    }
}
