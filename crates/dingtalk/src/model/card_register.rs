//! `POST /v1.0/card/callbacks/register`: binds a route key to the URL DingTalk POSTs card
//! callbacks to, with the `apiSecret` that signs them (protocol §6.7;
//! open.dingtalk.com/document/development/register-card-callback-address and
//! …/event-callback-card). Cards created with `callbackType: "HTTP"` and that
//! `callbackRouteKey` then send their button presses there.
//!
//! `forceUpdate` is a second confirmation: without it, a route key that is already bound
//! keeps its registration and the answer reports what it is bound to, so the caller can
//! compare and ask again with `forceUpdate: true`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::secret::Secret;

/// Body of `POST /v1.0/card/callbacks/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterCardCallbackRequest {
    /// The route key cards name in `callbackRouteKey`; one key maps to one URL.
    pub callback_route_key: String,
    /// Where DingTalk POSTs the callbacks; must be reachable from the internet.
    pub callback_url: String,
    /// Key of the `x-ddpaas-signature` HMAC; without it callbacks come unsigned.
    #[serde(serialize_with = "expose_secret")]
    pub api_secret: Secret,
    /// Replace an existing binding of the route key (it moves every card using the key).
    pub force_update: bool,
}

/// Answer of the registration: `{"success":true,"result":{"callbackUrl","apiSecret"}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterCardCallbackResponse {
    /// Whether the call worked.
    #[serde(default)]
    pub success: Option<bool>,
    /// What the route key is bound to now (the earlier binding when it was kept).
    #[serde(default)]
    pub result: Option<CardCallbackBinding>,
}

/// A route key's binding as DingTalk reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardCallbackBinding {
    /// The URL callbacks go to.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// The secret they are signed with.
    #[serde(default, deserialize_with = "optional_secret")]
    pub api_secret: Option<Secret>,
}

impl RegisterCardCallbackResponse {
    /// Whether the route key is bound to exactly `request`'s URL and secret.
    #[must_use]
    pub fn binds(&self, request: &RegisterCardCallbackRequest) -> bool {
        self.result.as_ref().is_some_and(|b| {
            b.callback_url.as_deref() == Some(request.callback_url.as_str())
                && b.api_secret.as_ref() == Some(&request.api_secret)
        })
    }
}

fn expose_secret<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose())
}

/// Anything but a string (or null) is taken as "no secret reported" rather than failing the
/// whole answer, whose text would then travel in the error.
fn optional_secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Secret>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(value.as_str().map(Secret::new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> RegisterCardCallbackRequest {
        RegisterCardCallbackRequest {
            callback_route_key: "clawtalk_ding1".into(),
            callback_url: "https://bot.example.com/webhooks/dingtalk/card".into(),
            api_secret: Secret::new("s3cret"),
            force_update: false,
        }
    }

    #[test]
    fn the_request_has_the_documented_field_names_and_the_secret_only_on_the_wire() {
        let req = request();
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({
                "callbackRouteKey": "clawtalk_ding1",
                "callbackUrl": "https://bot.example.com/webhooks/dingtalk/card",
                "apiSecret": "s3cret",
                "forceUpdate": false,
            })
        );
        assert!(!format!("{req:?}").contains("s3cret"));
    }

    #[test]
    fn the_answer_tells_whether_the_key_is_bound_as_asked() {
        let req = request();
        let same: RegisterCardCallbackResponse = serde_json::from_value(json!({
            "success": true,
            "result": {"callbackUrl": "https://bot.example.com/webhooks/dingtalk/card", "apiSecret": "s3cret"}
        }))
        .unwrap();
        assert!(same.binds(&req));
        let other: RegisterCardCallbackResponse = serde_json::from_value(json!({
            "success": true,
            "result": {"callbackUrl": "https://old.example.com/cb", "apiSecret": "s3cret"}
        }))
        .unwrap();
        assert!(!other.binds(&req));
        let odd: RegisterCardCallbackResponse =
            serde_json::from_value(json!({"success": true, "result": {"apiSecret": 5}})).unwrap();
        assert!(!odd.binds(&req));
        assert!(!format!("{same:?}").contains("s3cret"));
    }
}
