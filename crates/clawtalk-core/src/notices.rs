//! Every line clawtalk itself writes into a chat, in one place.
//!
//! A bot's users read Chinese first, so each notice says it in Chinese and then in English, in
//! one message: a notice never depends on a locale setting that an admin could get wrong, and a
//! translation is checked against its twin right here.

use std::fmt::Display;

/// The agent was stopped (`/stop`, 停止).
pub const STOPPED: &str = "⏹ 已停止。 Stopped.";

/// `/stop` with no answer running.
pub const NOTHING_RUNNING: &str = "没有正在进行的回答。 Nothing is running.";

/// `/new` / `/reset` (新对话, 重置) started a fresh session.
pub const NEW_CONVERSATION: &str = "🆕 已开始新对话。 Started a new conversation.";

/// An AI card before the first words of the answer.
pub const THINKING: &str = "⏳ 正在思考… Thinking…";

/// An AI card while the model reasons.
pub const REASONING: &str = "🤔 思考中… Thinking…";

/// An AI card's status line while `tool` runs.
#[must_use]
pub fn using_tool(tool: &str) -> String {
    format!("🔧 正在使用工具 `{tool}`… Using `{tool}`…")
}

/// The progress note sent as a message while `tool` runs.
#[must_use]
pub fn using_tool_note(tool: &str) -> String {
    format!("> {}", using_tool(tool))
}

/// An AI card's status line once `tool` finished.
#[must_use]
pub fn tool_done(tool: &str) -> String {
    format!("🔧 `{tool}` ✓")
}

/// Left on a card whose text the final answer moved into the card before it.
pub const CARD_MERGED_ABOVE: &str =
    "（此卡片内容已并入上一张卡片。 This card's text moved into the card above.）";

/// Added to a streamed answer cut short by a crash or a lost lease.
pub const ANSWER_INTERRUPTED: &str =
    "\n\n> ⚠️ 回答被中断，将重新回答。 Interrupted; the answer follows in a new message.";

/// Ends an answer cut to fit the most parts one answer may have.
pub const ANSWER_TRUNCATED: &str = "⚠️ 回答过长，已截断。 Answer truncated: it was too long to send in full.";

/// Stands in for an answer the model left empty.
pub const NO_ANSWER: &str = "（模型没有给出回答。 The model returned no answer.）";

/// A message whose turn failed too often to try again.
pub const DROPPED_AFTER_RETRIES: &str =
    "⚠️ 这条消息处理多次失败，已放弃。 This message failed repeatedly and was dropped.";

/// The model configuration cannot serve the agent.
pub const MODEL_CONFIG_BROKEN: &str = "⚠️ 机器人的模型配置有误，请联系管理员运行 `clawtalk config validate`。 \
     The bot's model configuration is broken; please ask the administrator to run `clawtalk config validate`.";

/// More images or files than `limits.mediaPerTurn` allows.
#[must_use]
pub fn media_cap_hit(cap: impl Display, more: impl Display) -> String {
    format!(
        "⚠️ 每次回答最多发送 {cap} 个图片或文件，另有 {more} 个未发送。 \
         At most {cap} images or files are sent per answer; {more} more were not sent."
    )
}

/// More tool calls in one round than `limits.toolCallsPerRound` allows.
#[must_use]
pub fn tool_call_cap_hit(cap: impl Display, more: impl Display) -> String {
    format!(
        "⚠️ 模型一次请求的工具调用超过 {cap} 个，多出的 {more} 个未执行。 \
         The model asked for more than {cap} tool calls at once; {more} were not run."
    )
}

/// A received file over the account's size limit (`size` may be empty when unknown).
#[must_use]
pub fn file_too_large(name: &str, size: &str, limit: &str) -> String {
    format!(
        "⚠️ {name}{size} 超过 {limit} 的大小上限，未读取。 {name} is larger than the {limit} limit and was not read."
    )
}

/// A received file DingTalk would not hand over.
#[must_use]
pub fn file_download_failed(name: &str) -> String {
    format!("⚠️ {name} 下载失败，未读取。 {name} could not be downloaded and was not read.")
}

/// A message longer than `maxInboundChars`: only its start reached the model.
#[must_use]
pub fn message_too_long(total: usize, max_chars: usize) -> String {
    format!(
        "⚠️ 消息过长（{total} 个字符），只有前 {max_chars} 个字符交给了模型。 \
         Your message was too long ({total} characters); only the first {max_chars} were passed to the model."
    )
}

/// Sent at once to a user whose message waits behind `ahead` others (`gateway.queueNoticeAfter`);
/// the answer follows.
#[must_use]
pub fn queued(ahead: usize) -> String {
    format!("⏳ 排队中，前面还有 {ahead} 位。 Queued, {ahead} ahead of you.")
}

/// Too many pairing codes wait for the administrator already.
pub const TOO_MANY_PAIRING_REQUESTS: &str = "⏳ 当前待处理的配对请求太多，请稍后再试。 \
     Too many pairing requests are waiting for the administrator; please try again later.";

/// The title of a markdown reply whose first line makes none.
pub const REPLY_TITLE: &str = "回复 Reply";

/// A scheduled task's run failed: which task, then why (nobody in the chat asked for it).
#[must_use]
pub fn scheduled_task_failed(name: &str, reason: &str) -> String {
    format!("⚠️ 定时任务「{name}」执行失败。 Scheduled task \"{name}\" failed.\n\n{reason}")
}

/// A scheduled task's run was skipped because no gateway ran at `at`.
#[must_use]
pub fn scheduled_run_missed(name: &str, at: &str, next: &str) -> String {
    format!(
        "⏰ 定时任务「{name}」错过了 {at} 的运行（当时网关未运行），已跳过。下次运行：{next}。\n\
         Scheduled task \"{name}\" missed its run at {at} (the gateway was not running) and skipped it. Next run: {next}."
    )
}

/// A sender `dmPolicy`/`groupPolicy` does not allow; `id` is what the admin adds to `allowFrom`.
#[must_use]
pub fn not_allowed(id: &str) -> String {
    format!(
        "⛔ 你暂时没有使用这个机器人的权限。请把你的 ID 发给管理员，加入 allowFrom。\n\
         ⛔ You are not allowed to use this bot yet. Send your id to the administrator to be added to allowFrom.\n\
         ID: {id}"
    )
}

/// The reply to an unknown DM sender under `dmPolicy: pairing`.
#[must_use]
pub fn pairing_code(code: &str, expires_in_minutes: u64) -> String {
    format!(
        "🔐 配对码 / Pairing code: {code}\n\
         请把配对码发给管理员，管理员运行 `clawtalk pairing approve {code}` 后即可对话（{expires_in_minutes} 分钟内有效）。\n\
         Send this code to the administrator; once they run `clawtalk pairing approve {code}` you can chat \
         (valid for {expires_in_minutes} minutes)."
    )
}

/// Why the model could not answer, for the chat user: never the provider's own words (long,
/// technical, or leaking internals), only the request id an admin can look up.
pub mod model {
    /// The provider refused the API key.
    pub const REJECTED_KEY: &str = "模型服务拒绝了 API Key，请联系管理员检查配置。 The model service rejected the API key; please ask the administrator to check it.";
    /// 429.
    pub const BUSY: &str =
        "模型服务暂时繁忙，请稍后再试。 The model service is busy; please try again shortly.";
    /// The provider's content filter.
    pub const FILTERED: &str = "这条消息或回复未通过模型服务的内容安全审核，请换个说法再试。 The model service's content filter blocked this message or its reply; please rephrase and try again.";
    /// 404: wrong model name or base URL.
    pub const NOT_FOUND: &str = "找不到所配置的模型或接口地址，请联系管理员检查配置。 The configured model or endpoint was not found; please ask the administrator to check the settings.";
    /// 400/413/422.
    pub const REJECTED_REQUEST: &str = "模型服务拒绝了这次请求（可能是对话过长或参数不受支持）。 The model service rejected the request (the conversation may be too long or a setting is unsupported).";
    /// 5xx.
    pub const FAILING: &str =
        "模型服务暂时出现故障，请稍后再试。 The model service is having problems; please try again later.";
    /// Any other provider error.
    pub const ERROR: &str =
        "模型服务返回了错误，请稍后再试。 The model service returned an error; please try again later.";
    /// No answer in time.
    pub const TIMEOUT: &str =
        "模型服务响应超时，请稍后再试。 The model service took too long to answer; please try again.";
    /// The stream ended mid-answer.
    pub const CUT_OFF: &str =
        "模型的回复中途中断了，请重试。 The model's reply was cut off; please try again.";
    /// An unreadable answer.
    pub const UNREADABLE: &str = "无法识别模型服务的回复，请联系管理员。 The model service's reply could not be understood; please tell the administrator.";
    /// Connection failures.
    pub const UNREACHABLE: &str =
        "无法连接到模型服务，请稍后再试。 Could not reach the model service; please try again later.";
    /// Invalid model settings.
    pub const BAD_SETTINGS: &str =
        "模型配置有误，请联系管理员。 The model settings are invalid; please ask the administrator.";

    /// `text` with the provider's request id, when there is one.
    #[must_use]
    pub fn with_request_id(text: &str, request_id: Option<&str>) -> String {
        match request_id {
            Some(id) => format!("{text}（请求 ID / request id: {id}）"),
            None => text.to_owned(),
        }
    }
}
