//! Base URLs of DingTalk's services, and the names of the calls made on them.
//!
//! Every URL the crate calls is derived from an [`Endpoints`] value so that tests and the
//! simulator can point a client at `127.0.0.1`. The defaults are the mainland production hosts.
//! [`ApiEndpoint`] names each call for metrics, logs and errors.

mod api_endpoint;

use url::Url;

pub use api_endpoint::ApiEndpoint;

/// Where the OpenAPI (`api.dingtalk.com`) and the legacy API (`oapi.dingtalk.com`) live.
///
/// The Stream WebSocket URL is not configured here: `connections/open` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// New-style OpenAPI, e.g. `https://api.dingtalk.com`.
    pub api: Url,
    /// Legacy API, e.g. `https://oapi.dingtalk.com` (gettoken, media upload, custom robot).
    pub oapi: Url,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self::mainland()
    }
}

impl Endpoints {
    /// Production hosts in mainland China.
    #[must_use]
    pub fn mainland() -> Self {
        Self {
            api: Url::parse("https://api.dingtalk.com").expect("static URL"),
            oapi: Url::parse("https://oapi.dingtalk.com").expect("static URL"),
        }
    }

    /// International hosts (`api.dingtalk.io` / `oapi.dingtalk.io`).
    #[must_use]
    pub fn international() -> Self {
        Self {
            api: Url::parse("https://api.dingtalk.io").expect("static URL"),
            oapi: Url::parse("https://oapi.dingtalk.io").expect("static URL"),
        }
    }

    /// Both APIs served from one base URL, as the simulator does.
    #[must_use]
    pub fn single(base: Url) -> Self {
        Self {
            api: base.clone(),
            oapi: base,
        }
    }

    /// Builds `api` + `path` (path starts with `/`).
    #[must_use]
    pub fn api_url(&self, path: &str) -> Url {
        join(&self.api, path)
    }

    /// Builds `oapi` + `path` (path starts with `/`).
    #[must_use]
    pub fn oapi_url(&self, path: &str) -> Url {
        join(&self.oapi, path)
    }
}

/// Appends `path` to the base's own path, so a base such as `http://127.0.0.1:9/dt` keeps its prefix.
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}{path}"));
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_paths_under_a_prefix() {
        let e = Endpoints::single(Url::parse("http://127.0.0.1:8080/sim/").unwrap());
        assert_eq!(
            e.api_url("/v1.0/oauth2/accessToken").as_str(),
            "http://127.0.0.1:8080/sim/v1.0/oauth2/accessToken"
        );
        assert_eq!(
            Endpoints::mainland().oapi_url("/gettoken").as_str(),
            "https://oapi.dingtalk.com/gettoken"
        );
    }
}
