use std::time::Duration;

use serde_json::json;

use super::{TOKEN_PATH, client, with_tokens};
use crate::api::ApiEndpoint;
use crate::error::{ApiErrorKind, Error};
use crate::http::test_stub::{Reply, Stub};
use crate::ids::{ConversationId, ProcessQueryKey, RobotCode, StaffId};
use crate::model::outbound::RobotMessage;

const BATCH_SEND: &str = "/v1.0/robot/oToMessages/batchSend";

fn robot() -> RobotCode {
    RobotCode::new("dingq7vxkt3mwz2hb8ns")
}

#[tokio::test]
async fn batch_send_posts_the_documented_request() {
    let stub = Stub::start(with_tokens(|_| {
        Reply::ok(json!({"processQueryKey": "pqk-1", "invalidStaffIdList": [], "flowControlledStaffIdList": ["u2"]}))
    }))
    .await;
    let api = client(&stub);
    let resp = api
        .batch_send_to_users(
            &robot(),
            &[StaffId::new("u1"), StaffId::new("u2")],
            &RobotMessage::markdown("T", "**hi**"),
        )
        .await
        .unwrap();
    assert_eq!(resp.process_query_key.as_str(), "pqk-1");
    assert_eq!(resp.flow_controlled_staff_id_list, vec![StaffId::new("u2")]);

    let req = stub.only(BATCH_SEND);
    assert_eq!(req.method, "POST");
    assert_eq!(req.header("x-acs-dingtalk-access-token"), Some("tok-1"));
    assert!(
        req.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = req.json();
    assert_eq!(body["robotCode"], "dingq7vxkt3mwz2hb8ns");
    assert_eq!(body["userIds"], json!(["u1", "u2"]));
    assert_eq!(body["msgKey"], "sampleMarkdown");
    let param: serde_json::Value = serde_json::from_str(body["msgParam"].as_str().unwrap()).unwrap();
    assert_eq!(param, json!({"title": "T", "text": "**hi**"}));

    assert_eq!(api.metrics().count(ApiEndpoint::AccessToken), 1);
    assert_eq!(api.metrics().count(ApiEndpoint::BatchSend), 1);
}

#[tokio::test]
async fn batch_send_rejects_more_than_20_users_locally() {
    let stub = Stub::start(with_tokens(|_| Reply::ok(json!({})))).await;
    let users: Vec<_> = (0..21).map(|i| StaffId::new(format!("u{i}"))).collect();
    let err = client(&stub)
        .batch_send_to_users(&robot(), &users, &RobotMessage::text("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn group_send_and_recalls_use_their_paths() {
    let stub = Stub::start(with_tokens(|r| match r.path.as_str() {
        "/v1.0/robot/groupMessages/send" => Reply::ok(json!({"processQueryKey": "g-1"})),
        _ => Reply::ok(json!({"successResult": ["k1"], "failedResult": {}})),
    }))
    .await;
    let api = client(&stub);
    let cid = ConversationId::new("cidGk2Zz9Lw0pQxRtY7uVb3nM1Q==");
    let sent = api
        .send_to_group(
            &robot(),
            &cid,
            &RobotMessage::text("Build #1234 passed"),
            Some("COOL"),
        )
        .await
        .unwrap();
    assert_eq!(sent.process_query_key.as_str(), "g-1");
    let body = stub.only("/v1.0/robot/groupMessages/send").json();
    assert_eq!(body["openConversationId"], "cidGk2Zz9Lw0pQxRtY7uVb3nM1Q==");
    assert_eq!(body["msgKey"], "sampleText");
    assert_eq!(body["coolAppCode"], "COOL");

    let keys = [ProcessQueryKey::new("k1")];
    let dm = api.recall_dm(&robot(), &keys).await.unwrap();
    assert_eq!(dm.success_result, keys.to_vec());
    // Lower-case `oto` for recall, unlike batchSend.
    assert_eq!(
        stub.only("/v1.0/robot/otoMessages/batchRecall").json(),
        json!({"robotCode": "dingq7vxkt3mwz2hb8ns", "processQueryKeys": ["k1"]})
    );
    api.recall_group(&robot(), &cid, &keys).await.unwrap();
    assert_eq!(
        stub.only("/v1.0/robot/groupMessages/recall").json(),
        json!({"openConversationId": "cidGk2Zz9Lw0pQxRtY7uVb3nM1Q==", "robotCode": "dingq7vxkt3mwz2hb8ns", "processQueryKeys": ["k1"]})
    );
    assert!(api.recall_dm(&robot(), &[]).await.is_err());
}

#[tokio::test]
async fn unauthorized_refreshes_the_token_once_and_retries() {
    let stub = Stub::start(with_tokens(|r| {
        if r.header("x-acs-dingtalk-access-token") == Some("tok-1") {
            Reply::json(
                401,
                json!({"code": "InvalidAuthentication", "message": "token expired"}),
            )
        } else {
            Reply::ok(json!({"processQueryKey": "after-refresh"}))
        }
    }))
    .await;
    let api = client(&stub);
    let resp = api
        .batch_send_to_users(&robot(), &[StaffId::new("u1")], &RobotMessage::text("x"))
        .await
        .unwrap();
    assert_eq!(resp.process_query_key.as_str(), "after-refresh");
    assert_eq!(stub.count(TOKEN_PATH), 2);
    let sends: Vec<_> = stub
        .requests()
        .into_iter()
        .filter(|r| r.path == BATCH_SEND)
        .map(|r| r.header("x-acs-dingtalk-access-token").unwrap().to_owned())
        .collect();
    assert_eq!(sends, ["tok-1", "tok-2"]);
}

/// The shape `api.dingtalk.com` really uses for a revoked or invalid token: HTTP 400, not 401
/// (satorijs/satori#240).
#[tokio::test]
async fn a_400_invalid_authentication_refreshes_the_token_once_and_retries() {
    let stub = Stub::start(with_tokens(|r| {
        if r.header("x-acs-dingtalk-access-token") == Some("tok-1") {
            Reply::json(
                400,
                json!({"code": "InvalidAuthentication", "requestid": "R400", "message": "不合法的access_token"}),
            )
        } else {
            Reply::ok(json!({"processQueryKey": "after-refresh"}))
        }
    }))
    .await;
    let api = client(&stub);
    let resp = api
        .send_to_group(
            &robot(),
            &ConversationId::new("cid"),
            &RobotMessage::text("x"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(resp.process_query_key.as_str(), "after-refresh");
    assert_eq!(stub.count(TOKEN_PATH), 2);
    assert_eq!(stub.count("/v1.0/robot/groupMessages/send"), 2);
}

#[tokio::test]
async fn unauthorized_twice_gives_up_after_one_retry() {
    let stub = Stub::start(with_tokens(|_| {
        Reply::json(
            401,
            json!({"code": "InvalidAuthentication", "message": "nope", "requestid": "R401"}),
        )
    }))
    .await;
    let err = client(&stub)
        .batch_send_to_users(&robot(), &[StaffId::new("u1")], &RobotMessage::text("x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::TokenExpired));
    assert_eq!(stub.count(BATCH_SEND), 2);
    assert_eq!(stub.count(TOKEN_PATH), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_unauthorized_callers_cause_one_refresh() {
    let stub = Stub::start(with_tokens(|r| {
        if r.header("x-acs-dingtalk-access-token") == Some("tok-1") {
            // Slow enough that every caller sends with tok-1 before anyone refreshes.
            Reply::json(401, json!({"code": "InvalidAuthentication"})).after(Duration::from_millis(100))
        } else {
            Reply::ok(json!({"processQueryKey": "ok"}))
        }
    }))
    .await;
    let api = client(&stub);
    api.token_cache().token().await.unwrap();
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move {
                api.batch_send_to_users(&robot(), &[StaffId::new("u1")], &RobotMessage::text("x"))
                    .await
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(stub.count(TOKEN_PATH), 2);
}

#[tokio::test]
async fn qps_limit_is_typed_and_keeps_the_raw_body() {
    let body = r#"{"code":"Forbidden.AccessDenied.QpsLimitForAppkeyAndApi","message":"调用频率超限","requestid":"RQPS"}"#;
    let stub = Stub::start(with_tokens(move |_| Reply::raw(403, body))).await;
    let err = client(&stub)
        .send_to_group(
            &robot(),
            &ConversationId::new("cid"),
            &RobotMessage::text("x"),
            None,
        )
        .await
        .unwrap_err();
    let api_err = err.api().expect("api error");
    assert_eq!(api_err.kind, ApiErrorKind::QpsLimited);
    assert_eq!(api_err.http_status, 403);
    assert_eq!(api_err.raw_body, body);
    assert_eq!(api_err.request_id.as_deref(), Some("RQPS"));
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    // Not a token problem: no refresh, no retry.
    assert_eq!(stub.count("/v1.0/robot/groupMessages/send"), 1);
    assert_eq!(stub.count(TOKEN_PATH), 1);
}

#[tokio::test]
async fn missing_permission_names_the_scope() {
    let stub = Stub::start(with_tokens(|_| {
        Reply::json(
            403,
            json!({"code": "Forbidden.AccessDenied.AccessTokenPermissionDenied", "requestid": "RP",
                   "message": "没有调用该接口的权限，接口权限申请参考：https://open.dingtalk.com/document/orgapp-server/add-api-permission",
                   "accessdenieddetail": {"requiredScopes": ["qyapi_robot_sendmsg"], "isPermissionApplicable": true}}),
        )
    }))
    .await;
    let err = client(&stub)
        .batch_send_to_users(&robot(), &[StaffId::new("u1")], &RobotMessage::text("x"))
        .await
        .unwrap_err();
    let api_err = err.api().unwrap();
    assert_eq!(api_err.kind, ApiErrorKind::PermissionMissing);
    assert_eq!(api_err.permission.as_deref(), Some("qyapi_robot_sendmsg"));
    assert!(err.to_string().contains("qyapi_robot_sendmsg"));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn non_json_server_error_is_kept_raw() {
    let stub = Stub::start(with_tokens(|_| Reply::raw(500, "oops"))).await;
    let err = client(&stub)
        .recall_dm(&robot(), &[ProcessQueryKey::new("k")])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::ServerBusy));
    assert_eq!(err.api().unwrap().raw_body, "oops");
}
