//! The one way clawtalk makes HTTP clients: rustls with the ring crypto provider and the
//! Mozilla root certificates compiled in.
//!
//! reqwest is built without a bundled crypto provider (its default would link aws-lc-rs, a C
//! library that roughly doubles what TLS adds to the binary), so every client gets its TLS
//! configuration from here. The roots are compiled in rather than read from the system: the
//! static binary runs in scratch containers and on hosts without a CA bundle, and it trusts
//! the same authorities everywhere.

use std::sync::{Arc, OnceLock};

/// A client builder with clawtalk's TLS: ring, the Mozilla roots, TLS 1.2 and 1.3, and HTTP/2
/// offered by ALPN (model providers serve streams over it). Everything else, including the
/// `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY` variables, is reqwest's default.
///
/// It also makes ring the process's default provider, so that a library which builds its own
/// client or TLS configuration without one finds a provider instead of panicking.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_default_provider();
    reqwest::Client::builder().tls_backend_preconfigured(client_config().clone())
}

/// Makes ring the process's default rustls crypto provider, unless one is installed already.
pub fn install_default_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing one is fine: a provider is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Built once: the root store holds about 150 anchors, and web_fetch builds a client per hop.
fn client_config() -> &'static rustls::ClientConfig {
    static CONFIG: OnceLock<rustls::ClientConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let mut config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                // ring supports both safe default versions; this cannot fail.
                .unwrap_or_else(|e| unreachable!("ring lacks TLS 1.2 and 1.3: {e}"))
                .with_root_certificates(roots)
                .with_no_client_auth();
        // What reqwest offers by itself when it builds the TLS configuration: h2 first.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_http2_then_http1() {
        assert_eq!(
            client_config().alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn ring_becomes_the_process_default() {
        let client = client_builder().build();
        assert!(client.is_ok(), "{client:?}");
        let provider = rustls::crypto::CryptoProvider::get_default().expect("installed");
        let ring = rustls::crypto::ring::default_provider();
        let names = |p: &rustls::crypto::CryptoProvider| {
            p.cipher_suites
                .iter()
                .map(|s| format!("{:?}", s.suite()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(provider), names(&ring));
    }

    #[tokio::test]
    async fn a_built_client_reaches_a_plain_http_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = client_builder().no_proxy().build().unwrap();
        let body = client
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "hello");
    }
}
