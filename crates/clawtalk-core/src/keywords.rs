//! Keyword security of custom robots: DingTalk refuses (`310000 keywords not in content`) any
//! message that contains none of the robot's keywords. This is the check that a configured list
//! can ever be satisfied; adding a keyword to a message is delivery's job.

/// Most keywords a custom robot can have.
pub const MAX_KEYWORDS: usize = 10;

/// Why a keyword list can never be satisfied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeywordError {
    /// An empty or blank keyword.
    #[error("keyword {index} is empty; write the keyword exactly as set in the robot's security settings")]
    Blank {
        /// Position in the list, from 0.
        index: usize,
    },
    /// A keyword with a line break, which DingTalk's settings cannot hold.
    #[error(
        "keyword {index} contains a line break; DingTalk keywords are single words or phrases, copy it from the robot's security settings"
    )]
    Multiline {
        /// Position in the list, from 0.
        index: usize,
    },
    /// More keywords than a robot can have.
    #[error("{count} keywords given; a DingTalk custom robot has at most {MAX_KEYWORDS}")]
    TooMany {
        /// How many were given.
        count: usize,
    },
}

/// Checks that every keyword can appear in a message.
pub fn validate_keywords(keywords: &[String]) -> Result<(), KeywordError> {
    if keywords.len() > MAX_KEYWORDS {
        return Err(KeywordError::TooMany {
            count: keywords.len(),
        });
    }
    for (index, keyword) in keywords.iter().enumerate() {
        if keyword.trim().is_empty() {
            return Err(KeywordError::Blank { index });
        }
        if keyword.contains(['\n', '\r']) {
            return Err(KeywordError::Multiline { index });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn unsatisfiable_lists_are_refused() {
        assert!(validate_keywords(&kw(&["告警"])).is_ok());
        assert_eq!(
            validate_keywords(&kw(&["ok", " "])),
            Err(KeywordError::Blank { index: 1 })
        );
        assert_eq!(
            validate_keywords(&kw(&["a\nb"])),
            Err(KeywordError::Multiline { index: 0 })
        );
        let many: Vec<String> = (0..11).map(|i| format!("k{i}")).collect();
        assert!(matches!(
            validate_keywords(&many),
            Err(KeywordError::TooMany { count: 11 })
        ));
    }
}
