//! What a running agent turn reports while it works: the stream an AI card or a progress
//! note is drawn from.

/// One thing that happened in a running turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// A model round starts: answer text streamed so far belonged to a round that ended in
    /// tool calls, so a display should start the answer afresh.
    RoundStart,
    /// A piece of the answer.
    Text(String),
    /// A piece of the model's reasoning (not part of the answer).
    Reasoning(String),
    /// A tool is being called.
    ToolStart(String),
    /// The tool finished.
    ToolDone(String),
}
