//! Contacts: legacy `POST /topapi/v2/user/get?access_token=` (a user's details, including the
//! departments the gateway routes by).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::LegacyError;
use crate::ids;
use crate::model::SCOPE_CONTACT_READ;
use crate::state::Shared;

use super::auth::authenticate_legacy;

pub(crate) const USER_GET: &str = "/topapi/v2/user/get";

pub(crate) async fn user_get(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    body: Option<Json<Value>>,
) -> Response {
    match user_get_inner(&shared, &q, body.map(|Json(v)| v)) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn user_get_inner(
    shared: &Shared,
    q: &HashMap<String, String>,
    body: Option<Value>,
) -> Result<Value, LegacyError> {
    let app = authenticate_legacy(shared, q.get("access_token").map(String::as_str), USER_GET)?;
    if !app.permissions.contains(SCOPE_CONTACT_READ) {
        return Err(LegacyError::new(
            60011,
            format!(
                "没有调用该接口的权限，接口权限申请参考：https://open.dingtalk.com/document/orgapp/add-api-permission （缺少 {SCOPE_CONTACT_READ}）"
            ),
        ));
    }
    let userid = body
        .as_ref()
        .and_then(|b| b.get("userid"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| LegacyError::new(40035, "缺少参数 userid"))?;
    shared.mutate(|st| {
        let user = st
            .users
            .get(userid)
            .filter(|u| u.corp_id == app.corp_id)
            .ok_or_else(|| LegacyError::new(60121, "找不到该用户"))?;
        Ok(json!({
            "errcode": 0,
            "errmsg": "ok",
            "result": {
                "userid": user.staff_id,
                "unionid": user.union_id,
                "name": user.nick,
                "dept_id_list": user.departments,
                "admin": user.is_admin,
                "active": true,
            },
            "request_id": ids::uuid(),
        }))
    })
}
