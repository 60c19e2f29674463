//! [`Mentions`]: whom a webhook message @-mentions (`at.atMobiles`, `at.atUserIds`, `at.isAtAll`).
//!
//! DingTalk renders a mention only when the text also contains `@<mobile>` / `@<userId>`, so the
//! text is never stripped of them; [`Mentions::from_text`] reads the mobiles already written there.

use dingtalk::ids::StaffId;
use dingtalk::model::outbound::At;

/// Most people one message may @ (DingTalk documents 50).
pub const MAX_MENTIONS: usize = 50;

/// Whom a message @-mentions. Only text and markdown render mentions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    /// Phone numbers (`at.atMobiles`).
    pub mobiles: Vec<String>,
    /// Staff ids (`at.atUserIds`).
    pub user_ids: Vec<StaffId>,
    /// Everyone in the group (`at.isAtAll`).
    pub all: bool,
}

impl Mentions {
    /// Mentions of the given phone numbers.
    pub fn mobiles<S: Into<String>>(mobiles: impl IntoIterator<Item = S>) -> Self {
        Self {
            mobiles: mobiles.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// No one is mentioned.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.mobiles.is_empty() && self.user_ids.is_empty() && !self.all
    }

    /// The mentions written in `text`: `@<mainland mobile>` (11 digits starting with 1) and
    /// `@all` / `@所有人`.
    #[must_use]
    pub fn from_text(text: &str) -> Self {
        let mut found = Self::default();
        for (at, _) in text.match_indices('@') {
            // `name@13800138000.example` is an address, not a mention.
            let glued = text[..at].chars().next_back().is_some_and(char::is_alphanumeric);
            if glued {
                continue;
            }
            let rest = &text[at + 1..];
            if let Some(mobile) = leading_mobile(rest) {
                found.push_mobile(mobile);
            } else if starts_with_word(rest, "all") || rest.starts_with("所有人") {
                found.all = true;
            }
        }
        found
    }

    /// Adds `other`'s mentions that are not already present.
    pub fn extend(&mut self, other: &Self) {
        for mobile in &other.mobiles {
            self.push_mobile(mobile);
        }
        for id in &other.user_ids {
            if !self.user_ids.contains(id) {
                self.user_ids.push(id.clone());
            }
        }
        self.all |= other.all;
    }

    /// The `at` object, or `None` when no one is mentioned.
    #[must_use]
    pub fn to_at(&self) -> Option<At> {
        (!self.is_empty()).then(|| At {
            at_mobiles: self.mobiles.clone(),
            at_user_ids: self.user_ids.clone(),
            is_at_all: self.all,
        })
    }

    /// How many people are named (`@all` not counted).
    #[must_use]
    pub fn count(&self) -> usize {
        self.mobiles.len() + self.user_ids.len()
    }

    fn push_mobile(&mut self, mobile: &str) {
        if !self.mobiles.iter().any(|m| m == mobile) {
            self.mobiles.push(mobile.to_owned());
        }
    }
}

/// An 11-digit mainland mobile number at the start of `s`, not followed by another digit.
fn leading_mobile(s: &str) -> Option<&str> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    (digits == 11 && s.starts_with('1')).then(|| &s[..11])
}

fn starts_with_word(s: &str, word: &str) -> bool {
    s.strip_prefix(word)
        .is_some_and(|rest| !rest.chars().next().is_some_and(char::is_alphanumeric))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobiles_and_all_are_read_from_the_text() {
        let m = Mentions::from_text("@13800138000 please review, cc @13900139000 and @13800138000");
        assert_eq!(m.mobiles, vec!["13800138000", "13900139000"]);
        assert!(!m.all);
        assert!(Mentions::from_text("heads up @all").all);
        assert!(Mentions::from_text("@所有人 注意").all);
        assert!(!Mentions::from_text("@allison hi").all);
    }

    #[test]
    fn lookalikes_are_not_mentions() {
        for text in [
            "mail ops@13800138000.cn",
            "@1380013800 is ten digits",
            "@138001380001 is twelve",
            "@23800138000 does not start with 1",
            "no mention here",
        ] {
            assert!(Mentions::from_text(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn at_object_follows_the_wire_names() {
        assert!(Mentions::default().to_at().is_none());
        let mut m = Mentions::mobiles(["13800138000"]);
        m.extend(&Mentions {
            user_ids: vec![StaffId::new("0312")],
            all: true,
            ..Mentions::default()
        });
        let json = serde_json::to_value(m.to_at().unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"atMobiles": ["13800138000"], "atUserIds": ["0312"], "isAtAll": true})
        );
        assert_eq!(m.count(), 2);
    }
}
