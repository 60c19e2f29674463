//! Chat commands users type to control their session.

/// A command that is handled by the gateway instead of the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatCommand {
    /// `/stop` or `停止`: cancel the turn that is running.
    Stop,
    /// `/new` or `/reset` (also `新对话`, `重置`): start a fresh session.
    Reset,
}

/// Recognises a command. Only a message that *is* the command counts, so "please /stop
/// the build" is an ordinary message. Chinese input methods type a full-width slash.
#[must_use]
pub fn parse(text: &str) -> Option<ChatCommand> {
    let text = text.trim();
    let word = text.strip_prefix('/').or_else(|| text.strip_prefix('／'));
    match word.map(|w| {
        w.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    }) {
        Some(w) if w == "stop" => Some(ChatCommand::Stop),
        // `/new <model>` switches models in OpenClaw; the argument is ignored here.
        Some(w) if w == "new" || w == "reset" => Some(ChatCommand::Reset),
        Some(_) => None,
        None => match text {
            "停止" | "停" => Some(ChatCommand::Stop),
            "新对话" | "重置" => Some(ChatCommand::Reset),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_commands_and_nothing_else() {
        assert_eq!(parse("/stop"), Some(ChatCommand::Stop));
        assert_eq!(parse("  /STOP "), Some(ChatCommand::Stop));
        assert_eq!(parse("停止"), Some(ChatCommand::Stop));
        assert_eq!(parse("／stop"), Some(ChatCommand::Stop));
        assert_eq!(parse("/new"), Some(ChatCommand::Reset));
        assert_eq!(parse("/new qwen3-max"), Some(ChatCommand::Reset));
        assert_eq!(parse("/reset"), Some(ChatCommand::Reset));
        assert_eq!(parse("重置"), Some(ChatCommand::Reset));
        assert_eq!(parse("please /stop the build"), None);
        assert_eq!(parse("/stopped"), None);
        assert_eq!(parse("/"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("停止吧"), None);
    }
}
