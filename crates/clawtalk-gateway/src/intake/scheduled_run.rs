//! Scheduled runs in: each due run of a task (or the notice of a missed one) becomes a turn
//! of the task's agent in the task's own session, stored under the key
//! `cron:<task>:<due time>`, so a gateway that takes over a lapsed claim cannot queue the
//! same run twice. The run counts as fired only once it is stored.

use clawtalk_core::clock::EpochMs;
use clawtalk_core::ids::AccountId;
use std::sync::Arc;

use anyhow::bail;
use dingtalk::ids::{ConversationId, MsgId, RobotCode, StaffId};

use super::{Ack, Admission, Admitted, admit};
use crate::Shared;
use clawtalk_config::DingTalkAccount;
use clawtalk_core::inbound::{ChatKind, CronTurn, CronWebhook, GatewayOrigin, InboundMessage, Transport};
use clawtalk_store::{CronTarget, CronTask, CronTaskId};

/// One run of a task.
pub(crate) struct Run {
    /// When it was due, epoch ms.
    pub due_ms: EpochMs,
    /// The prompt, or the notice to post.
    pub text: String,
    /// `text` is a missed-run notice, posted as is.
    pub notice: bool,
}

/// Stores the run as a turn and decides it.
///
/// # Errors
/// The run could not be stored; the task's claim lapses and it is fired again.
pub(crate) async fn admit_run(
    shared: &Arc<Shared>,
    account: &DingTalkAccount,
    task: &CronTask,
    run: Run,
) -> anyhow::Result<()> {
    let notice = run.notice;
    let inbound = inbound_for(account, task, run.due_ms, run.text, notice);
    match admit(shared, account, Admission::routed(account, inbound), Ack::Caller).await {
        Admitted::New(id) => {
            tracing::info!(task = task.id, inbound = ?id, agent = %task.spec.agent_id, target = ?task.spec.target, notice, "scheduled run queued");
            Ok(())
        }
        Admitted::Duplicate | Admitted::Ignored => Ok(()),
        Admitted::Failed => bail!("the run could not be stored"),
    }
}

/// A run as a turn: a DM to the user, a post in the group, or a post through the webhook.
fn inbound_for(
    account: &DingTalkAccount,
    task: &CronTask,
    due_ms: EpochMs,
    text: String,
    notice: bool,
) -> InboundMessage {
    let (chat, conversation_id, staff_id, webhook) = match &task.spec.target {
        CronTarget::User(id) => (
            ChatKind::Direct,
            String::new(),
            Some(StaffId::new(id.clone())),
            None,
        ),
        CronTarget::Group(cid) => (ChatKind::Group, cid.clone(), None, None),
        CronTarget::Webhook { url, secret } => (
            ChatKind::Group,
            String::new(),
            None,
            Some(CronWebhook {
                url: url.clone(),
                secret: secret.clone(),
            }),
        ),
    };
    InboundMessage {
        cron: Some(CronTurn {
            task_id: task.id,
            agent_id: task.spec.agent_id.clone(),
            name: task.spec.name.clone(),
            webhook,
            notice,
        }),
        ..InboundMessage::gateway_originated(GatewayOrigin {
            account_id: AccountId::new(account.id.clone()),
            transport: Transport::Scheduler,
            robot_code: RobotCode::new(account.robot_code.clone()),
            msg_id: MsgId::new(run_key(task.id, due_ms)),
            conversation_id: ConversationId::new(conversation_id),
            chat,
            staff_id,
            text,
            created_at_ms: due_ms,
            msgtype: "cron".to_owned(),
        })
    }
}

/// The inbox key of one run: the same for every gateway that fires it.
fn run_key(task: CronTaskId, due_ms: EpochMs) -> String {
    format!("cron:{task}:{due_ms}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_config::routing;
    use clawtalk_config::test_support::config;
    use clawtalk_core::reply::failure_notice;
    use clawtalk_delivery::{Body, OutboundMessage, Target};
    use clawtalk_store::{CronKind, CronStatus, NewCronTask};

    fn task(target: CronTarget) -> CronTask {
        CronTask {
            id: 7,
            spec: NewCronTask {
                account_id: AccountId::new("default"),
                agent_id: "main".into(),
                name: "weather".into(),
                prompt: "Beijing weather".into(),
                kind: CronKind::Cron,
                schedule: "0 9 * * *".into(),
                timezone: "Asia/Shanghai".into(),
                target,
                created_by: None,
                origin: None,
                next_run_at_ms: EpochMs::from_millis(0),
            },
            status: CronStatus::Active,
            next_run_at_ms: Some(EpochMs::from_millis(0)),
            run_requested_at_ms: None,
            paused_at_ms: None,
            lease: None,
            runs: 0,
            last_run_at_ms: None,
            last_status: None,
            last_error: None,
            created_at_ms: EpochMs::from_millis(0),
            updated_at_ms: EpochMs::from_millis(0),
        }
    }

    const CONFIG: &str = r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
        channels: { dingtalk: { clientId: "dingbot", clientSecret: "s" } } }"#;

    #[test]
    fn a_webhook_run_is_its_own_session_and_answers_through_the_robot() {
        let cfg = config(CONFIG);
        let account = &cfg.accounts[0];
        let target = CronTarget::Webhook {
            url: "https://oapi.dingtalk.com/robot/send?access_token=tok-hidden".into(),
            secret: Some("SEChidden".into()),
        };
        let inbound = inbound_for(
            account,
            &task(target),
            EpochMs::from_millis(1_000),
            "run".into(),
            false,
        );
        assert_eq!(inbound.msg_id.as_str(), "cron:7:1000");
        let route = routing::route(&cfg, account, &inbound, &[]);
        assert_eq!(route.to_string(), "agent:main:dingtalk:default:cron:7");
        let reply = OutboundMessage::reply_to(&inbound, Body::text("sunny"), "k");
        let Target::CustomRobot { webhook, secret, .. } = &reply.target else {
            panic!("{reply:?}");
        };
        assert!(webhook.as_str().contains("tok-hidden"));
        assert_eq!(secret.as_ref().map(|s| s.expose()), Some("SEChidden"));
        assert!(matches!(
            Target::for_inbound(&inbound),
            Some(Target::CustomRobot { .. })
        ));
        for shown in [format!("{inbound:?}"), format!("{reply:?}")] {
            assert!(
                !shown.contains("tok-hidden") && !shown.contains("SEChidden"),
                "{shown}"
            );
        }
        assert!(failure_notice(&inbound, "model down").starts_with("⚠️ 定时任务「weather」执行失败。"));
    }

    #[test]
    fn dm_and_group_runs_go_to_the_user_and_the_group() {
        let cfg = config(CONFIG);
        let account = &cfg.accounts[0];
        let dm = inbound_for(
            account,
            &task(CronTarget::User("0312".into())),
            EpochMs::from_millis(5),
            "x".into(),
            false,
        );
        let reply = OutboundMessage::reply_to(&dm, Body::text("x"), "k");
        assert_eq!(reply.target, Target::User(dingtalk::ids::StaffId::new("0312")));
        let group = inbound_for(
            account,
            &task(CronTarget::Group("cidG==".into())),
            EpochMs::from_millis(5),
            "x".into(),
            true,
        );
        let reply = OutboundMessage::reply_to(&group, Body::text("x"), "k");
        assert_eq!(reply.target, Target::Group(ConversationId::new("cidG==")));
        assert!(group.cron.as_ref().is_some_and(|c| c.notice));
        assert_eq!(
            failure_notice(&clawtalk_config::test_support::dm("default", "u", "x"), "why"),
            "why"
        );
    }

    #[tokio::test]
    async fn a_run_counts_as_fired_only_once_stored() {
        let harness = crate::intake::tests::Harness::new("http://127.0.0.1:9").await;
        let account = harness.account("default");
        let task = task(CronTarget::User("0312".into()));
        let run = |due_ms| Run {
            due_ms,
            text: "Beijing weather".into(),
            notice: false,
        };
        admit_run(&harness.shared, &account, &task, run(EpochMs::from_millis(1_000)))
            .await
            .unwrap();
        let row = crate::intake::tests::stored_msg(&harness, "cron:7:1000")
            .await
            .expect("stored before the run counts as fired");
        assert_eq!(row.record.session_key, "agent:main:dingtalk:default:cron:7");

        harness.break_inbox().await;
        assert!(
            admit_run(&harness.shared, &account, &task, run(EpochMs::from_millis(2_000)))
                .await
                .is_err(),
            "an unstored run is not fired: its claim lapses and it is fired again"
        );
    }
}
