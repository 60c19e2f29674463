//! Media: bytes behind download codes (attached to injected messages) and behind media ids
//! (uploaded by bots), and the temporary download URLs handed out.

use std::collections::HashMap;

use tokio::time::Instant;

use crate::ids;

/// Bytes behind a download code or media id.
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub app: String,
    pub bytes: bytes::Bytes,
    pub content_type: String,
    pub file_name: Option<String>,
}

#[derive(Default)]
pub(crate) struct Media {
    /// download code → inbound media.
    pub downloads: HashMap<String, Blob>,
    /// download URL token → (download code, expiry).
    pub download_urls: HashMap<String, (String, Instant)>,
    /// media_id → uploaded media.
    pub uploads: HashMap<String, Blob>,
}

impl Media {
    /// Registers bytes under a fresh download code.
    pub fn register_download(
        &mut self,
        app: &str,
        bytes: Vec<u8>,
        content_type: String,
        file_name: Option<String>,
    ) -> String {
        let code = ids::download_code();
        self.downloads.insert(
            code.clone(),
            Blob {
                app: app.to_owned(),
                bytes: bytes.into(),
                content_type,
                file_name,
            },
        );
        code
    }
}
