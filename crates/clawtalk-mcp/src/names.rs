//! The names MCP tools go by in a model request: `<server>__<tool>`, within the OpenAI
//! function-name rules (`^[a-zA-Z0-9_-]{1,64}$`).

/// Longest function name OpenAI-compatible APIs accept.
pub const MAX_TOOL_NAME: usize = 64;

/// `<server>__<tool>` with every character outside `[A-Za-z0-9_-]` replaced by `_`. A name
/// longer than 64 keeps its first 55 characters and ends in `_` plus 8 hex digits of a hash of
/// the full name, so two long names that share a prefix still differ.
#[must_use]
pub fn exposed_name(server: &str, tool: &str) -> String {
    let full: String = format!("{server}__{tool}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if full.len() <= MAX_TOOL_NAME {
        return full;
    }
    // Hash of the original (unsanitised) name: `a.b` and `a_b` must not collide either.
    let hash = fnv1a(format!("{server}__{tool}").as_bytes());
    format!("{}_{hash:08x}", &full[..MAX_TOOL_NAME - 9])
}

/// 32-bit FNV-1a: stable across builds and platforms (std's hasher is not).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= MAX_TOOL_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn prefixes_the_server_and_keeps_valid_names() {
        assert_eq!(exposed_name("everything", "echo"), "everything__echo");
        assert_eq!(exposed_name("everything", "get-sum"), "everything__get-sum");
    }

    #[test]
    fn replaces_characters_outside_the_charset() {
        let name = exposed_name("docs", "search.pages/v2 ü");
        assert_eq!(name, "docs__search_pages_v2__");
        assert!(valid(&name));
    }

    #[test]
    fn long_names_are_cut_to_64_and_stay_distinct() {
        let long = "x".repeat(80);
        let a = exposed_name("server", &format!("{long}a"));
        let b = exposed_name("server", &format!("{long}b"));
        assert!(valid(&a) && valid(&b), "{a} {b}");
        assert_eq!(a.len(), MAX_TOOL_NAME);
        assert_ne!(a, b);
        assert_eq!(a, exposed_name("server", &format!("{long}a")), "stable");
        // Sanitising maps `.` to `_`; the hash of the original keeps the two apart.
        assert_ne!(
            exposed_name("s", &format!("{long}.b")),
            exposed_name("s", &format!("{long}_b"))
        );
    }
}
