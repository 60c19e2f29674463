use serde_json::json;

use super::{client, with_tokens};
use crate::api::ApiEndpoint;
use crate::error::ApiErrorKind;
use crate::http::test_stub::{Reply, Stub};
use crate::ids::{ConversationId, OutTrackId, RobotCode, StaffId};
use crate::model::card_register::RegisterCardCallbackRequest;
use crate::model::outbound::{CardData, CreateAndDeliverRequest, StreamingUpdateRequest, UpdateCardRequest};

const CREATE: &str = "/v1.0/card/instances/createAndDeliver";

fn group_card() -> CreateAndDeliverRequest {
    CreateAndDeliverRequest::group(
        "tpl.schema",
        OutTrackId::new("card_1"),
        RobotCode::new("robot"),
        &ConversationId::new("cid1"),
    )
    .param("content", "")
}

#[tokio::test]
async fn create_and_deliver_posts_the_request_and_returns_the_carrier() {
    let stub = Stub::start(with_tokens(|_| {
        Reply::ok(
            json!({"success": true, "result": {"outTrackId": "card_1", "deliverResults": [
            {"spaceType": "IM_GROUP", "spaceId": "cid1", "success": true, "carrierId": "pqk"}]}}),
        )
    }))
    .await;
    let api = client(&stub);
    let req = group_card();
    let resp = api.create_and_deliver_card(&req).await.unwrap();
    assert_eq!(resp.carrier_id().unwrap().as_str(), "pqk");
    let seen = stub.only(CREATE);
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.header("x-acs-dingtalk-access-token"), Some("tok-1"));
    assert_eq!(seen.json(), serde_json::to_value(&req).unwrap());
    assert_eq!(api.metrics().card_calls(), 1);
}

#[tokio::test]
async fn failed_delivery_in_a_200_answer_is_an_error() {
    let stub = Stub::start(with_tokens(|_| {
        Reply::ok(json!({"success": true, "result": {"outTrackId": "card_1", "deliverResults": [
            {"spaceType": "IM_GROUP", "spaceId": "cid1", "success": false, "errorMsg": "robot not in group"}]}}))
    }))
    .await;
    let err = client(&stub)
        .create_and_deliver_card(&group_card())
        .await
        .unwrap_err();
    let api_err = err.api().unwrap();
    assert_eq!(api_err.kind, ApiErrorKind::DeliveryFailed);
    assert!(
        api_err.message.contains("robot not in group"),
        "{}",
        api_err.message
    );
    assert!(api_err.raw_body.contains("robot not in group"));
    assert_eq!(api_err.http_status, 200);
}

#[tokio::test]
async fn card_param_errors_are_classified() {
    let stub = Stub::start(with_tokens(|_| {
        Reply::json(
            400,
            json!({"code": "param.cardAlreadyExist", "message": "card already exist"}),
        )
    }))
    .await;
    let err = client(&stub)
        .create_and_deliver_card(&group_card())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::InvalidParam));
}

#[tokio::test]
async fn streaming_and_update_use_put() {
    let n = std::sync::atomic::AtomicUsize::new(0);
    let stub = Stub::start(with_tokens(move |r| {
        if r.path == "/v1.0/card/streaming" && n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            Reply::ok(json!({"success": false, "result": false}))
        } else {
            Reply::ok(json!({"success": true, "result": true}))
        }
    }))
    .await;
    let api = client(&stub);
    let track = OutTrackId::new("card_1");
    let frame = StreamingUpdateRequest::full(track.clone(), "content", "# hi");
    api.stream_card(&frame).await.unwrap();
    let seen = stub.only("/v1.0/card/streaming");
    assert_eq!(seen.method, "PUT");
    assert_eq!(seen.json(), serde_json::to_value(&frame).unwrap());

    let err = api
        .stream_card(&StreamingUpdateRequest::full(track.clone(), "content", "# hi!").finalize())
        .await
        .unwrap_err();
    assert!(err.api().unwrap().raw_body.contains("false"));

    let update = UpdateCardRequest::merge(track, CardData::from_pairs([("flowStatus", "3")]));
    api.update_card(&update).await.unwrap();
    let seen = stub.only("/v1.0/card/instances");
    assert_eq!(seen.method, "PUT");
    assert_eq!(
        seen.json()["cardUpdateOptions"],
        json!({"updateCardDataByKey": true})
    );

    assert_eq!(api.metrics().count(ApiEndpoint::CardStreaming), 2);
    assert_eq!(api.metrics().card_calls(), 3);
}

#[tokio::test]
async fn dm_card_targets_the_robot_space() {
    let stub = Stub::start(with_tokens(|_| {
        Reply::ok(json!({"success": true, "result": {"deliverResults": []}}))
    }))
    .await;
    let req = CreateAndDeliverRequest::robot_dm(
        "tpl.schema",
        OutTrackId::new("card_2"),
        RobotCode::new("robot"),
        &StaffId::new("031"),
    );
    client(&stub).create_and_deliver_card(&req).await.unwrap();
    let body = stub.only(CREATE).json();
    assert_eq!(body["openSpaceId"], "dtv1.card//IM_ROBOT.031");
    assert_eq!(body["imRobotOpenDeliverModel"]["spaceType"], "IM_ROBOT");
}

#[tokio::test]
async fn http_callback_cards_name_their_route_key() {
    let stub = Stub::start(with_tokens(|_| {
        Reply::ok(json!({"success": true, "result": {"deliverResults": []}}))
    }))
    .await;
    let req = group_card().http_callback("clawtalk_dingclient");
    client(&stub).create_and_deliver_card(&req).await.unwrap();
    let body = stub.only(CREATE).json();
    assert_eq!(body["callbackType"], "HTTP");
    assert_eq!(body["callbackRouteKey"], "clawtalk_dingclient");
    assert_eq!(
        group_card().callback_route_key,
        None,
        "Stream cards name no route"
    );
}

#[tokio::test]
async fn register_card_callback_posts_the_binding_with_the_token() {
    let stub = Stub::start(with_tokens(|r| {
        if r.json()["callbackUrl"] == "https://x.example/refused" {
            return Reply::json(
                400,
                json!({"code": "param.callbackUrlEmpty", "message": "param.callbackUrlEmpty"}),
            );
        }
        Reply::ok(json!({"success": true, "result": {
            "callbackUrl": r.json()["callbackUrl"], "apiSecret": r.json()["apiSecret"]}}))
    }))
    .await;
    let api = client(&stub);
    let req = RegisterCardCallbackRequest {
        callback_route_key: "clawtalk_dingclient".into(),
        callback_url: "https://bot.example.com/webhooks/dingtalk/card".into(),
        api_secret: crate::Secret::new("card-secret"),
        force_update: false,
    };
    let answer = api.register_card_callback(&req).await.unwrap();
    assert!(answer.binds(&req));
    let seen = stub.only("/v1.0/card/callbacks/register");
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.header("x-acs-dingtalk-access-token"), Some("tok-1"));
    assert_eq!(seen.json()["apiSecret"], "card-secret");
    assert_eq!(api.metrics().count(ApiEndpoint::CardCallbackRegister), 1);

    let refused = RegisterCardCallbackRequest {
        callback_url: "https://x.example/refused".into(),
        ..req
    };
    let err = api.register_card_callback(&refused).await.unwrap_err();
    assert_eq!(err.api().unwrap().code, "param.callbackUrlEmpty");
    assert!(!err.to_string().contains("card-secret"), "{err}");
}
