//! The agent's identity from `IDENTITY.md`, for whatever the config's `identity` leaves out.
//!
//! OpenClaw reads `IDENTITY.md` line by line (openclaw/openclaw `src/agents/identity-file.ts`):
//! a line `Label: value`, optionally a `- ` list item with Markdown emphasis around label or
//! value, sets the field of that label (`Name`, `Emoji`, `Theme`, `Creature`, `Vibe`,
//! `Avatar`, any case). Its starter template writes hints in parentheses, such as
//! `_(pick something you like)_`, which are not values; a value wholly in parentheses is
//! taken for such a hint here.

use clawtalk_config::Identity;

/// The fields `IDENTITY.md` sets (the ones clawtalk's [`Identity`] has).
#[must_use]
pub fn parse(text: &str) -> Identity {
    let mut identity = Identity::default();
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix('-').map_or(line, str::trim_start);
        let Some((label, value)) = line.split_once(':') else {
            continue;
        };
        let label = label.replace(['*', '_', '`'], "").trim().to_lowercase();
        let value = strip_emphasis(value);
        if value.is_empty() || (value.starts_with('(') && value.ends_with(')')) {
            continue;
        }
        let field = match label.as_str() {
            "name" => &mut identity.name,
            "emoji" => &mut identity.emoji,
            "theme" => &mut identity.theme,
            "avatar" => &mut identity.avatar,
            _ => continue,
        };
        *field = Some(value.to_owned());
    }
    identity
}

/// `value` without surrounding spaces and Markdown emphasis marks.
fn strip_emphasis(value: &str) -> &str {
    value.trim_matches(|c: char| c.is_whitespace() || matches!(c, '*' | '_' | '`'))
}

/// Each field from `config`, else from `file`.
#[must_use]
pub fn merge(config: &Identity, file: &Identity) -> Identity {
    let pick = |a: &Option<String>, b: &Option<String>| a.clone().or_else(|| b.clone());
    Identity {
        name: pick(&config.name, &file.name),
        emoji: pick(&config.emoji, &file.emoji),
        theme: pick(&config.theme, &file.theme),
        avatar: pick(&config.avatar, &file.avatar),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_list_items_with_emphasis_and_skips_template_hints() {
        let text = "# IDENTITY.md - Who Am I?\n\n\
                    - **Name:** 小钉\n\
                    - **Creature:** _(AI? robot? something weirder?)_\n\
                    - Emoji: 🦞\n\
                    * not a field\n\
                    Theme: `a calm, precise helper`\n\
                    - **Avatar:**\n";
        let identity = parse(text);
        assert_eq!(identity.name.as_deref(), Some("小钉"));
        assert_eq!(identity.emoji.as_deref(), Some("🦞"));
        assert_eq!(identity.theme.as_deref(), Some("a calm, precise helper"));
        assert_eq!(identity.avatar, None);
    }

    #[test]
    fn placeholders_are_not_values() {
        let identity = parse("- **Name:** _(pick something you like)_\n- Emoji: (your signature)");
        assert_eq!(identity, Identity::default());
    }

    #[test]
    fn config_fields_win_the_file_fills_the_rest() {
        let config = Identity {
            name: Some("Config".into()),
            ..Identity::default()
        };
        let file = parse("- Name: File\n- Emoji: ✨");
        let merged = merge(&config, &file);
        assert_eq!(merged.name.as_deref(), Some("Config"));
        assert_eq!(merged.emoji.as_deref(), Some("✨"));
    }
}
