//! Answers shaped like a real model's for load benchmarks: a wait before the first token, a
//! steady token rate and a fixed length, instead of the offline model's short echo.

use std::time::Duration;

use crate::script::Script;

/// The shape of every unscripted answer (see [`crate::MockModelBuilder::synthetic`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Synthetic {
    /// Time to first token.
    pub first_token: Duration,
    /// Tokens streamed per second after the first.
    pub tokens_per_second: f64,
    /// Tokens per answer, after the echo of the question.
    pub tokens: usize,
}

impl Synthetic {
    /// The gap between two streamed tokens.
    #[must_use]
    pub fn per_token(&self) -> Duration {
        if self.tokens_per_second > 0.0 {
            Duration::from_secs_f64(1.0 / self.tokens_per_second)
        } else {
            Duration::ZERO
        }
    }

    /// How long one answer takes from the request to its last token.
    #[must_use]
    pub fn answer_time(&self) -> Duration {
        self.first_token + self.per_token() * u32::try_from(self.tokens).unwrap_or(u32::MAX)
    }

    /// The answer to `question`: its first chunk quotes the question (so a benchmark can tell
    /// whose answer it sees), then `tokens` chunks of one word each, like English tokens.
    pub(crate) fn answer(&self, question: Option<&str>) -> Script {
        let question = question.unwrap_or_default().trim();
        let mut chunks = Vec::with_capacity(self.tokens + 1);
        chunks.push(format!("re: {question} ·"));
        chunks.extend((0..self.tokens).map(|i| format!(" w{}", i % 100)));
        Script::chunks(chunks).delay(self.first_token, self.per_token())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_and_sizes_the_answer() {
        let s = Synthetic {
            first_token: Duration::from_millis(1500),
            tokens_per_second: 40.0,
            tokens: 400,
        };
        assert_eq!(s.per_token(), Duration::from_millis(25));
        assert_eq!(s.answer_time(), Duration::from_millis(11_500));
    }
}
