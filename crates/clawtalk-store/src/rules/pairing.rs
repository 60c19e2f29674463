//! Pairing codes, the same on every backend: how they are made and how a typed one is read.

use rand::Rng;

/// Upper-case letters and digits without the look-alikes 0/O and 1/I: codes are read off a
/// phone and typed into a terminal. 32 symbols, so 8 of them are 40 random bits.
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Code length.
const CODE_LEN: usize = 8;
/// Fresh codes tried per request; a collision among 2^40 codes is already unlikely.
const CODE_ATTEMPTS: usize = 4;

/// Random codes from the thread's CSPRNG (ChaCha, OS-seeded), so codes cannot be predicted
/// from earlier ones.
pub fn fresh_codes() -> Vec<String> {
    let mut rng = rand::rng();
    (0..CODE_ATTEMPTS)
        .map(|_| {
            (0..CODE_LEN)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect()
        })
        .collect()
}

/// Accepts what an operator may type: any case, spaces or dashes between groups.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PairingPolicy;

    #[test]
    fn codes_use_the_unambiguous_alphabet() {
        for code in fresh_codes() {
            assert_eq!(code.len(), CODE_LEN);
            assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
            assert!(!code.contains(['0', 'O', '1', 'I']));
        }
        let codes = fresh_codes();
        assert_ne!(codes[0], codes[1]);
    }

    /// Why guessing a code is hopeless, in numbers. Codes are read by the operator, never
    /// typed by the sender: only `clawtalk pairing approve` (a local admin) and the web UI's
    /// pairing page (behind the gateway token, and showing every pending code anyway) take
    /// one. Even an attacker who could submit approvals at 1,000 guesses a second for a
    /// code's whole hour, against the most live codes an account allows (3 by default),
    /// would hit one with probability 3 × 3.6e6 / 2^40 ≈ 1e-5.
    #[test]
    fn codes_cannot_be_guessed() {
        let distinct: std::collections::HashSet<u8> = ALPHABET.iter().copied().collect();
        assert_eq!(distinct.len(), 32, "32 distinct symbols: 5 bits each");
        let bits = CODE_LEN as f64 * (distinct.len() as f64).log2();
        assert!(bits >= 40.0, "{bits} bits");
        let policy = PairingPolicy::default();
        let guesses = 1_000.0 * (policy.ttl_ms as f64 / 1_000.0);
        let hit = f64::from(policy.max_pending_per_account) * guesses / bits.exp2();
        assert!(hit < 1e-4, "{hit}");
        assert!(policy.ttl_ms <= 60 * 60 * 1000, "codes expire within an hour");

        // The generator is uniform over the whole alphabet (no modulo bias, no favourite
        // symbols) and does not repeat itself: 4,000 codes, 32,000 symbols, about 1,000 of
        // each. A symbol outside 800..1200 is over six standard deviations off.
        let codes: Vec<String> = (0..1_000).flat_map(|_| fresh_codes()).collect();
        let unique: std::collections::HashSet<&String> = codes.iter().collect();
        assert_eq!(unique.len(), codes.len(), "no repeats among 4,000 codes");
        let mut counts = [0u32; 256];
        for b in codes.iter().flat_map(|c| c.bytes()) {
            counts[usize::from(b)] += 1;
        }
        for symbol in ALPHABET {
            let n = counts[usize::from(*symbol)];
            assert!(
                (800..1200).contains(&n),
                "{} drawn {n} times",
                char::from(*symbol)
            );
        }
    }

    #[test]
    fn typed_codes_are_normalized() {
        assert_eq!(normalize_code(" abcd-efgh "), "ABCDEFGH");
        assert_eq!(normalize_code("AB CD EF GH"), "ABCDEFGH");
    }
}
