//! Approval (OA) event bodies: `bpms_instance_change` and `bpms_task_change` (protocol §10).
//!
//! The same fields arrive as a Stream frame's `data` or flattened into an HTTP push, so these
//! decoders read from any JSON object and ignore keys they do not know (including the HTTP
//! envelope keys).

use serde_json::Value;

use super::decode::{ModelError, Obj};
use crate::ids::{CorpId, StaffId};

const INSTANCE_WHAT: &str = "bpms_instance_change event";
const TASK_WHAT: &str = "bpms_task_change event";

/// An approval instance started, finished, was revoked or deleted.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BpmsInstanceChange {
    /// The approval instance (required).
    pub process_instance_id: String,
    /// What happened (`type`, required).
    pub change_type: InstanceChangeType,
    /// Outcome on `finish`; absent on `terminate`.
    pub result: Option<ApprovalResult>,
    /// Template code `PROC-…`.
    pub process_code: Option<String>,
    /// Business category, e.g. `attendance.goout`.
    pub biz_category_id: Option<String>,
    /// Instance business number.
    pub business_id: Option<String>,
    /// Business type (often empty).
    pub business_type: Option<String>,
    /// Instance title.
    pub title: Option<String>,
    /// Deep link into the approval page.
    pub url: Option<String>,
    /// The initiator.
    pub staff_id: Option<StaffId>,
    /// Creation time, epoch ms.
    pub create_time: Option<i64>,
    /// Finish time, epoch ms.
    pub finish_time: Option<i64>,
    /// Corp id inside the body, as older payloads had it.
    pub corp_id: Option<CorpId>,
}

/// A task (one approver's step) of an approval changed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BpmsTaskChange {
    /// The approval instance (required).
    pub process_instance_id: String,
    /// What happened (`type`, required).
    pub change_type: TaskChangeType,
    /// The approver's decision, when the task finished.
    pub result: Option<ApprovalResult>,
    /// The task id (sent as a number; kept as its decimal string so a string id also fits).
    pub task_id: Option<String>,
    /// The approver's comment.
    pub remark: Option<String>,
    /// Template code `PROC-…`.
    pub process_code: Option<String>,
    /// Business category.
    pub biz_category_id: Option<String>,
    /// Instance business number.
    pub business_id: Option<String>,
    /// Instance title.
    pub title: Option<String>,
    /// The approver (or the user who transferred the task).
    pub staff_id: Option<StaffId>,
    /// Creation time, epoch ms.
    pub create_time: Option<i64>,
    /// Finish time, epoch ms; absent at `start`.
    pub finish_time: Option<i64>,
    /// Corp id inside the body, as older payloads had it.
    pub corp_id: Option<CorpId>,
}

/// `type` of `bpms_instance_change`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InstanceChangeType {
    /// `start`.
    Start,
    /// `finish`: approved or refused (see `result`).
    Finish,
    /// `terminate`: revoked by the initiator.
    Terminate,
    /// `delete`.
    Delete,
    /// Anything else, verbatim.
    Other(String),
}

/// `type` of `bpms_task_change`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskChangeType {
    /// `start`: the task reached an approver.
    Start,
    /// `finish`: done or transferred (see `result`).
    Finish,
    /// `cancel`: another approver of an OR-node acted.
    Cancel,
    /// `comment`.
    Comment,
    /// Anything else, verbatim.
    Other(String),
}

/// `result` of approval events.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApprovalResult {
    /// `agree`.
    Agree,
    /// `refuse`.
    Refuse,
    /// `redirect`: transferred to someone else (tasks).
    Redirect,
    /// `audit`: a handler node (tasks).
    Audit,
    /// Anything else, verbatim.
    Other(String),
}

impl InstanceChangeType {
    fn from_wire(raw: &str) -> Self {
        match raw {
            "start" => Self::Start,
            "finish" => Self::Finish,
            "terminate" => Self::Terminate,
            "delete" => Self::Delete,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl TaskChangeType {
    fn from_wire(raw: &str) -> Self {
        match raw {
            "start" => Self::Start,
            "finish" => Self::Finish,
            "cancel" => Self::Cancel,
            "comment" => Self::Comment,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl ApprovalResult {
    fn from_wire(raw: &str) -> Self {
        match raw {
            "agree" => Self::Agree,
            "refuse" => Self::Refuse,
            "redirect" => Self::Redirect,
            "audit" => Self::Audit,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl BpmsInstanceChange {
    /// Decodes the event fields from a JSON object.
    ///
    /// # Errors
    /// [`ModelError::NotAnObject`] when `data` is not an object; [`ModelError::MissingField`] when
    /// `processInstanceId` or `type` is absent or empty; [`ModelError::InvalidField`] when a known
    /// field has the wrong JSON type.
    pub fn from_value(data: &Value) -> Result<Self, ModelError> {
        let o = Obj::root(INSTANCE_WHAT, data)?;
        Ok(Self {
            process_instance_id: o.required("processInstanceId")?.to_owned(),
            change_type: InstanceChangeType::from_wire(o.required("type")?),
            result: o.non_empty("result")?.map(ApprovalResult::from_wire),
            process_code: o.string("processCode")?,
            biz_category_id: o.string("bizCategoryId")?,
            business_id: o.stringish("businessId")?,
            business_type: o.string("businessType")?,
            title: o.string("title")?,
            url: o.string("url")?,
            staff_id: o.id("staffId", StaffId::new)?,
            create_time: o.int("createTime")?,
            finish_time: o.int("finishTime")?,
            corp_id: o.id("corpId", CorpId::new)?,
        })
    }
}

impl BpmsTaskChange {
    /// Decodes the event fields from a JSON object.
    ///
    /// # Errors
    /// [`ModelError::NotAnObject`] when `data` is not an object; [`ModelError::MissingField`] when
    /// `processInstanceId` or `type` is absent or empty; [`ModelError::InvalidField`] when a known
    /// field has the wrong JSON type.
    pub fn from_value(data: &Value) -> Result<Self, ModelError> {
        let o = Obj::root(TASK_WHAT, data)?;
        Ok(Self {
            process_instance_id: o.required("processInstanceId")?.to_owned(),
            change_type: TaskChangeType::from_wire(o.required("type")?),
            result: o.non_empty("result")?.map(ApprovalResult::from_wire),
            task_id: o.stringish("taskId")?,
            remark: o.string("remark")?,
            process_code: o.string("processCode")?,
            biz_category_id: o.string("bizCategoryId")?,
            business_id: o.stringish("businessId")?,
            title: o.string("title")?,
            staff_id: o.id("staffId", StaffId::new)?,
            create_time: o.int("createTime")?,
            finish_time: o.int("finishTime")?,
            corp_id: o.id("corpId", CorpId::new)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn task_id_may_be_a_string_and_times_strings() {
        let t = BpmsTaskChange::from_value(&json!({
            "processInstanceId": "p", "type": "cancel", "taskId": "77", "createTime": "10", "result": ""
        }))
        .unwrap();
        assert_eq!(t.task_id.as_deref(), Some("77"));
        assert_eq!(t.change_type, TaskChangeType::Cancel);
        assert_eq!(t.create_time, Some(10));
        assert_eq!(t.result, None);
    }

    #[test]
    fn unknown_type_and_result_are_kept() {
        let i = BpmsInstanceChange::from_value(&json!({
            "processInstanceId": "p", "type": "archive", "result": "maybe"
        }))
        .unwrap();
        assert_eq!(i.change_type, InstanceChangeType::Other("archive".into()));
        assert_eq!(i.result, Some(ApprovalResult::Other("maybe".into())));
    }

    #[test]
    fn missing_type_is_named() {
        let err = BpmsInstanceChange::from_value(&json!({"processInstanceId": "p"})).unwrap_err();
        assert!(matches!(err, ModelError::MissingField { field, .. } if field == "type"));
    }
}
