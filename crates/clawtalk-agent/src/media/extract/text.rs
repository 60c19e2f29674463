//! Plain text in whatever encoding a colleague's editor saved it.

use std::borrow::Cow;

/// Decodes text bytes: UTF-8 (BOM optional), UTF-16 with a BOM, else GB18030 — Chinese
/// Windows tools still save CSV and TXT files in GBK — and lossy UTF-8 as the last resort.
#[must_use]
pub fn decode_text(bytes: &[u8]) -> Cow<'_, str> {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        return text;
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(text);
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors {
        String::from_utf8_lossy(bytes)
    } else {
        text
    }
}
