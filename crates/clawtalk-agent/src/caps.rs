//! Per-turn caps on what the model can make the bot do (`limits` of the agent): how many
//! tool calls of one response run, and how many images and files one turn sends.
//!
//! A capped call is not run; the model gets a "cap reached" tool result so it can stop and
//! say so, and the user finds a note under the answer, since the model may not mention it.

use serde_json::json;

use clawtalk_config::AgentLimits;
use clawtalk_core::notices;

/// What one turn has spent, across every round and every model tried.
#[derive(Debug)]
pub(super) struct TurnBudget {
    limits: AgentLimits,
    media_sent: u32,
    media_refused: u32,
    /// The largest number of tool calls one response asked for beyond the cap.
    calls_over: usize,
}

impl TurnBudget {
    pub(super) fn new(limits: AgentLimits) -> Self {
        Self {
            limits,
            media_sent: 0,
            media_refused: 0,
            calls_over: 0,
        }
    }

    /// How many of a response's `asked` tool calls run (the first ones, in order).
    pub(super) fn calls_to_run(&mut self, asked: usize) -> usize {
        let cap = usize::try_from(self.limits.tool_calls_per_round).unwrap_or(usize::MAX);
        if asked > cap {
            self.calls_over = self.calls_over.max(asked - cap);
        }
        asked.min(cap)
    }

    /// The tool result of a call past the per-round cap.
    pub(super) fn call_refused(&self) -> String {
        let cap = self.limits.tool_calls_per_round;
        json!({
            "error": format!(
                "cap reached: at most {cap} tool calls run per response (limits.toolCallsPerRound); \
                 this call was not run. Ask for fewer calls at once, or answer with what you have."
            )
        })
        .to_string()
    }

    /// Counts a media send; `Err` is the tool result when the turn's cap is already reached.
    pub(super) fn take_media(&mut self) -> Result<(), String> {
        let cap = self.limits.media_per_turn;
        if self.media_sent < cap {
            self.media_sent += 1;
            return Ok(());
        }
        self.media_refused += 1;
        Err(json!({
            "error": format!(
                "cap reached: this turn already sent {cap} images/files (limits.mediaPerTurn); \
                 nothing was sent. Do not call send_image or send_file again in this turn; \
                 tell the user the rest was not sent."
            )
        })
        .to_string())
    }

    /// The bilingual note for the user about every cap this turn hit; `None` when none was.
    pub(super) fn user_note(&self) -> Option<String> {
        let mut lines = Vec::new();
        if self.media_refused > 0 {
            let (cap, more) = (self.limits.media_per_turn, self.media_refused);
            lines.push(notices::media_cap_hit(cap, more));
        }
        if self.calls_over > 0 {
            let (cap, more) = (self.limits.tool_calls_per_round, self.calls_over);
            lines.push(notices::tool_call_cap_hit(cap, more));
        }
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(media: u32, calls: u32) -> TurnBudget {
        TurnBudget::new(AgentLimits {
            media_per_turn: media,
            tool_calls_per_round: calls,
            ..AgentLimits::default()
        })
    }

    #[test]
    fn media_past_the_cap_is_refused_and_noted() {
        let mut b = budget(2, 16);
        assert!(b.take_media().is_ok() && b.take_media().is_ok());
        assert_eq!(b.user_note(), None, "reaching the cap is not exceeding it");
        let refused = b.take_media().unwrap_err();
        assert!(refused.contains("cap reached") && refused.contains("limits.mediaPerTurn"));
        b.take_media().unwrap_err();
        let note = b.user_note().unwrap();
        assert!(
            note.contains("最多发送 2 个") && note.contains("2 more were not sent"),
            "{note}"
        );
    }

    #[test]
    fn calls_past_the_round_cap_do_not_run() {
        let mut b = budget(10, 3);
        assert_eq!(b.calls_to_run(2), 2);
        assert_eq!(b.user_note(), None);
        assert_eq!(b.calls_to_run(7), 3);
        assert!(b.call_refused().contains("limits.toolCallsPerRound"));
        let note = b.user_note().unwrap();
        assert!(
            note.contains("more than 3 tool calls") && note.contains("4 were not run"),
            "{note}"
        );
    }
}
