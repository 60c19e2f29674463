//! The plaintext inside an event push, before AES and after it:
//! `random (16) | message length (4, big-endian) | message | receiveId | PKCS#7 padding`.
//!
//! Pure byte handling, kept apart from the cipher so every bound check can be tested directly.

use super::CryptoError;

/// DingTalk pads to 32-byte blocks (twice the AES block), as its Java and Python samples do.
pub(crate) const PAD_BLOCK: usize = 32;

/// Bytes of the random prefix.
pub(crate) const RANDOM_LEN: usize = 16;

/// The parts of a decrypted, unpadded push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlaintextParts<'a> {
    pub(crate) random: &'a [u8; RANDOM_LEN],
    pub(crate) message: &'a [u8],
    pub(crate) receive_id: &'a [u8],
    pub(crate) pad: u8,
}

/// Builds the padded plaintext for `message` addressed to `receive_id`.
///
/// # Panics
///
/// If `message` is longer than `u32::MAX` bytes, which the 4-byte length field cannot express.
pub(crate) fn compose(random: &[u8; RANDOM_LEN], message: &[u8], receive_id: &[u8]) -> Vec<u8> {
    let declared = u32::try_from(message.len()).expect("event message longer than 4 GiB");
    let unpadded_len = RANDOM_LEN + 4 + message.len() + receive_id.len();
    // Always 1..=32 bytes, so the receiver can always strip by the last byte.
    let pad = PAD_BLOCK - unpadded_len % PAD_BLOCK;
    let mut buf = Vec::with_capacity(unpadded_len + pad);
    buf.extend_from_slice(random);
    buf.extend_from_slice(&declared.to_be_bytes());
    buf.extend_from_slice(message);
    buf.extend_from_slice(receive_id);
    // `pad` ≤ 32, so the cast is exact.
    buf.resize(unpadded_len + pad, pad as u8);
    buf
}

/// Strips the padding and splits a decrypted buffer into its parts.
///
/// Only the last padding byte is read (as every official decoder does), so a sender that pads
/// to 16-byte blocks is accepted too; integrity comes from `msg_signature`, not from padding.
pub(crate) fn parse(decrypted: &[u8]) -> Result<PlaintextParts<'_>, CryptoError> {
    let pad = decrypted.last().copied().unwrap_or(0);
    let unpadded_len = decrypted
        .len()
        .checked_sub(usize::from(pad))
        .filter(|_| (1..=PAD_BLOCK).contains(&usize::from(pad)))
        .ok_or(CryptoError::BadPadding { pad })?;
    let unpadded = decrypted
        .get(..unpadded_len)
        .ok_or(CryptoError::BadPadding { pad })?;

    let truncated = || CryptoError::Truncated { len: unpadded.len() };
    let (random, rest) = unpadded.split_first_chunk::<RANDOM_LEN>().ok_or_else(truncated)?;
    let (length_field, rest) = rest.split_first_chunk::<4>().ok_or_else(truncated)?;
    let declared = u32::from_be_bytes(*length_field);
    let (message, receive_id) = usize::try_from(declared)
        .ok()
        .and_then(|len| rest.split_at_checked(len))
        .ok_or(CryptoError::LengthOutOfRange {
            declared,
            available: rest.len(),
        })?;
    Ok(PlaintextParts {
        random,
        message,
        receive_id,
        pad,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RANDOM: &[u8; 16] = b"abcdefghijklmnop";

    #[test]
    fn compose_pads_to_32_and_always_adds_padding() {
        // 16 + 4 + 7 + 5 = 32: an exact multiple still gets a full block of padding.
        let buf = compose(RANDOM, b"success", b"owner");
        assert_eq!(buf.len(), 64);
        assert!(buf[32..].iter().all(|&b| b == 32));

        let buf = compose(RANDOM, b"success", b"ding6ccabc44d2c8d38b");
        assert_eq!(buf.len(), 64);
        assert_eq!(buf.last(), Some(&17));
    }

    #[test]
    fn parse_reads_back_what_compose_wrote() {
        let buf = compose(RANDOM, b"{\"a\":1}", b"owner");
        let parts = parse(&buf).expect("parse");
        assert_eq!(parts.random, RANDOM);
        assert_eq!(parts.message, b"{\"a\":1}");
        assert_eq!(parts.receive_id, b"owner");
        assert_eq!(usize::from(parts.pad), buf.len() - (16 + 4 + 7 + 5));
    }

    #[test]
    fn parse_accepts_16_byte_block_padding() {
        // 16 + 4 + 7 + 3 = 30 → a 16-byte padder adds 2 bytes.
        let mut buf = compose(RANDOM, b"success", b"own");
        buf.truncate(30);
        buf.extend_from_slice(&[2, 2]);
        let parts = parse(&buf).expect("parse");
        assert_eq!(parts.message, b"success");
        assert_eq!(parts.receive_id, b"own");
    }

    #[test]
    fn parse_rejects_bad_input_without_panicking() {
        let mut zero_pad = compose(RANDOM, b"x", b"o");
        *zero_pad.last_mut().expect("non-empty") = 0;
        let mut pad_33 = vec![b'a'; 64];
        pad_33[63] = 33;
        let mut pad_longer_than_buffer = vec![b'a'; 16];
        pad_longer_than_buffer[15] = 20;
        let mut short_header = vec![b'a'; 32];
        short_header[31] = 13; // leaves 19 bytes: one short of the header
        let mut length_too_big = compose(RANDOM, b"abc", b"o");
        length_too_big[16..20].copy_from_slice(&5_u32.to_be_bytes()); // 4 bytes follow, not 5
        let mut length_max = compose(RANDOM, b"abc", b"o");
        length_max[16..20].copy_from_slice(&u32::MAX.to_be_bytes());

        let cases: [(&str, Vec<u8>, CryptoError); 7] = [
            ("empty", vec![], CryptoError::BadPadding { pad: 0 }),
            ("pad byte 0", zero_pad, CryptoError::BadPadding { pad: 0 }),
            ("pad byte 33", pad_33, CryptoError::BadPadding { pad: 33 }),
            (
                "pad longer than buffer",
                pad_longer_than_buffer,
                CryptoError::BadPadding { pad: 20 },
            ),
            (
                "header cut short",
                short_header,
                CryptoError::Truncated { len: 19 },
            ),
            (
                "length field past end",
                length_too_big,
                CryptoError::LengthOutOfRange {
                    declared: 5,
                    available: 4,
                },
            ),
            (
                "length field u32::MAX",
                length_max,
                CryptoError::LengthOutOfRange {
                    declared: u32::MAX,
                    available: 4,
                },
            ),
        ];
        for (name, buf, expected) in cases {
            assert_eq!(parse(&buf), Err(expected), "{name}");
        }
    }

    #[test]
    fn length_field_bytes_above_0x7f_are_read_exactly() {
        // A message of 0x80 = 128 bytes: a lossy text conversion of the length would corrupt it.
        let message = vec![b'm'; 0x80];
        let buf = compose(RANDOM, &message, b"o");
        assert_eq!(parse(&buf).expect("parse").message, message.as_slice());
        let message = vec![b'm'; 0x1_00_ff];
        let buf = compose(RANDOM, &message, b"o");
        assert_eq!(parse(&buf).expect("parse").message.len(), 0x1_00_ff);
    }

    proptest! {
        #[test]
        fn parse_never_panics(buf in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&buf);
        }

        #[test]
        fn compose_then_parse_is_identity(
            message in prop::collection::vec(any::<u8>(), 0..300),
            receive_id in prop::collection::vec(any::<u8>(), 0..40),
        ) {
            let buf = compose(RANDOM, &message, &receive_id);
            prop_assert_eq!(buf.len() % PAD_BLOCK, 0);
            let parts = parse(&buf).expect("parse");
            prop_assert_eq!(parts.message, message.as_slice());
            prop_assert_eq!(parts.receive_id, receive_id.as_slice());
        }
    }
}
