//! Generators for DingTalk-looking identifiers. Formats imitate what the platform sends;
//! none of them is meaningful.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::Rng as _;
use rand::distr::Alphanumeric;

/// Random alphanumeric string.
pub(crate) fn alnum(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Random lower-case hex string.
pub(crate) fn hex(len: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rng = rand::rng();
    (0..len).map(|_| HEX[rng.random_range(0..16)] as char).collect()
}

/// Random bytes, base64 encoded.
pub(crate) fn b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    STANDARD.encode(buf)
}

/// Encrypted-looking per-app user id: `$:LWCP_v1:$…`.
pub(crate) fn dingtalk_id() -> String {
    format!("$:LWCP_v1:${}", b64(24))
}

/// Conversation id `cid…==`.
pub(crate) fn conversation_id() -> String {
    // Base64-looking, but without `/` and `+` so it is path- and query-safe.
    format!("cid{}==", alnum(22))
}

/// Platform message id `msg…==`.
pub(crate) fn msg_id() -> String {
    format!("msg{}==", alnum(22))
}

/// Stream delivery id shaped like `21e8f0a1_963_19b6a5f3c2d_4a2b`.
pub(crate) fn stream_message_id(epoch_ms: u64) -> String {
    let n: u16 = rand::rng().random_range(100..1000);
    format!("{}_{n}_{epoch_ms:x}_{}", hex(8), hex(4))
}

/// Download code for inbound media.
pub(crate) fn download_code() -> String {
    format!("mIofN{}", b64(36).replace('/', "+"))
}

/// `processQueryKey` / card `carrierId`.
pub(crate) fn process_query_key() -> String {
    b64(21)
}

/// Legacy `media_id`.
pub(crate) fn media_id() -> String {
    format!("@lADP{}", alnum(28))
}

/// Uuid v4 string.
pub(crate) fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Request id as DingTalk's gateway prints it (upper-case uuid).
pub(crate) fn request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

/// Epoch milliseconds of the wall clock.
pub(crate) fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
