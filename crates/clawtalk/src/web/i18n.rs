//! The console's languages: Simplified Chinese and English.
//!
//! Every string a page shows goes through [`t`] with a key of [`MESSAGES`]. A string that
//! is not a key is shown as it is, so a page whose labels have no translation yet (or a
//! navigation entry added with its English label) still reads in English. Adding a string
//! is one line in [`MESSAGES`]: key, Chinese, English.
//!
//! The language comes from `?lang=zh|en` on any page (the switch in the header, remembered
//! in a cookie by [`remember`]), else that cookie, else the browser's `Accept-Language`.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// Name of the cookie that remembers the switch.
const COOKIE: &str = "clawtalk_lang";
/// How long the choice is remembered (a year).
const COOKIE_MAX_AGE_SECS: u32 = 365 * 24 * 3600;

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Lang {
    /// Simplified Chinese.
    Zh,
    /// English, also for browsers that ask for neither.
    #[default]
    En,
}

impl Lang {
    /// The code in `?lang=`, the cookie and `<html lang>`.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    /// The value `?lang=` takes to pick this language.
    pub(crate) fn short(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }

    /// The other language, for the switch.
    pub(crate) fn other(self) -> Self {
        match self {
            Self::Zh => Self::En,
            Self::En => Self::Zh,
        }
    }

    /// The language's own name, as the switch shows it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Zh => "中文",
            Self::En => "English",
        }
    }

    fn parse(code: &str) -> Option<Self> {
        let code = code.trim().to_ascii_lowercase();
        let primary = code.split(['-', '_']).next().unwrap_or_default();
        match primary {
            "zh" => Some(Self::Zh),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The language of a request: `?lang=`, the cookie, then `Accept-Language`.
    pub(crate) fn of(query: Option<&str>, headers: &HeaderMap) -> Self {
        query
            .and_then(lang_in_query)
            .or_else(|| cookie(headers))
            .or_else(|| accepted(headers))
            .unwrap_or_default()
    }
}

/// `lang=` of a query string, when it names one of our languages.
fn lang_in_query(query: &str) -> Option<Lang> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "lang")
        .and_then(|(_, v)| Lang::parse(&v))
}

fn cookie(headers: &HeaderMap) -> Option<Lang> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| Lang::parse(value))
}

/// The most preferred of our languages in `Accept-Language` (RFC 9110 §12.5.4: ranges with
/// optional `q` weights; `q=0` means "not acceptable").
fn accepted(headers: &HeaderMap) -> Option<Lang> {
    let value = headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
    let mut best: Option<(Lang, f32)> = None;
    for range in value.split(',') {
        let mut parts = range.split(';');
        let Some(lang) = parts.next().and_then(Lang::parse) else {
            continue;
        };
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((lang, q));
        }
    }
    best.map(|(lang, _)| lang)
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts.uri.query(), &parts.headers))
    }
}

/// Remembers a `?lang=` choice in a cookie, so the following pages keep the language.
pub(crate) async fn remember(request: Request, next: Next) -> Response {
    let chosen = request.uri().query().and_then(lang_in_query);
    let mut response = next.run(request).await;
    if let Some(lang) = chosen {
        let value = format!(
            "{COOKIE}={}; Path=/; Max-Age={COOKIE_MAX_AGE_SECS}; SameSite=Lax",
            lang.short()
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `key`'s text in `lang`; a string that is not a key is returned as it is.
pub(crate) fn t(lang: Lang, key: &str) -> &str {
    MESSAGES
        .iter()
        .find(|(k, _, _)| *k == key)
        .map_or(key, |(_, zh, en)| match lang {
            Lang::Zh => zh,
            Lang::En => en,
        })
}

/// [`t`] with each `{name}` replaced by its value.
pub(crate) fn tf(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut text = t(lang, key).to_owned();
    for (name, value) in args {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

/// Key, Chinese, English.
pub(crate) const MESSAGES: &[(&str, &str, &str)] = &[
    // Frame.
    ("nav.status", "状态", "Status"),
    ("nav.setup", "初始化", "Setup"),
    ("nav.conversations", "会话", "Conversations"),
    ("nav.pairing", "配对", "Pairing"),
    ("nav.cron", "定时任务", "Scheduled"),
    ("nav.agents", "智能体", "Agents"),
    ("nav.memories", "记忆", "Memories"),
    ("nav.chat", "WebChat", "WebChat"),
    ("nav.config", "配置", "Config"),
    ("nav.logs", "日志", "Logs"),
    ("nav.usage", "用量", "Usage"),
    ("usage.title", "用量", "Usage"),
    ("usage.account", "账号", "Account"),
    ("usage.agent", "智能体", "Agent"),
    ("usage.all", "全部", "all"),
    ("usage.filter", "筛选", "Filter"),
    ("usage.day", "日期（UTC）", "Day (UTC)"),
    ("usage.prompt", "输入 token", "Prompt tokens"),
    ("usage.completion", "输出 token", "Completion tokens"),
    ("usage.model_calls", "模型调用", "Model calls"),
    (
        "usage.api_calls",
        "钉钉 API 调用（计入配额）",
        "DingTalk API calls (quota)",
    ),
    (
        "usage.kinds",
        "消息 / 卡片 / 媒体 / 其他",
        "messages / cards / media / other",
    ),
    (
        "usage.exempt",
        "不计配额（token、通讯录）",
        "not counted (tokens, contacts)",
    ),
    ("usage.refusals", "配额拒绝", "quota refusals"),
    (
        "usage.none",
        "最近 30 天没有用量记录。",
        "No usage in the last 30 days.",
    ),
    (
        "usage.chart_tokens",
        "每日 token（输入 + 输出）",
        "Tokens per day (prompt + completion)",
    ),
    (
        "usage.chart_calls",
        "每日钉钉 API 调用",
        "DingTalk API calls per day",
    ),
    (
        "usage.note",
        "按 UTC 日统计；token 以模型服务商报告的为准（未报告则不计）；钉钉 API 调用归属账号（智能体为 -）。数据每 5 秒写入一次存储。",
        "Days are UTC; tokens are what the model provider reported (nothing when it reports none); DingTalk API calls belong to the account (agent -). Figures reach the store every 5 seconds.",
    ),
    (
        "usage.month_calls",
        "本月钉钉 API 调用",
        "DingTalk API calls this month",
    ),
    (
        "usage.quota",
        "每月配额（monthlyApiQuota）",
        "Monthly quota (monthlyApiQuota)",
    ),
    ("usage.unlimited", "不限", "unlimited"),
    (
        "usage.quota_near",
        "本月钉钉 API 调用已超过每月配额的 80%：",
        "DingTalk API calls this month passed 80% of the monthly quota:",
    ),
    (
        "usage.quota_reached",
        "本月钉钉 API 调用已用完每月配额，钉钉将拒绝调用（90020 ApiCountLimitForOrg）直到下月：",
        "DingTalk API calls this month used up the monthly quota; DingTalk refuses calls (90020 ApiCountLimitForOrg) until next month:",
    ),
    (
        "usage.quota_refused",
        "本月钉钉因配额用尽拒绝的调用次数（90020/20001）：",
        "Calls DingTalk refused this month for the quota (90020/20001):",
    ),
    ("nav.mcp", "MCP", "MCP"),
    ("nav.logout", "退出登录", "Log out"),
    ("error.title", "出错了", "Error"),
    ("refused.title", "已拒绝", "Refused"),
    (
        "refused.csrf",
        "此表单已过期或并非来自本页面。请返回、刷新页面后重试。",
        "This form is out of date or did not come from this page. Go back, reload the page and try again.",
    ),
    // Login.
    ("login.title", "登录", "Log in"),
    ("login.token", "网关令牌", "Gateway token"),
    ("login.submit", "登录", "Log in"),
    (
        "login.help",
        "令牌是配置中的 gateway.auth.token，或 `clawtalk gateway run` 首次启动时打印的令牌（`clawtalk gateway token` 可再次显示）。",
        "The token is gateway.auth.token in the config, or the one `clawtalk gateway run` printed on its first start (`clawtalk gateway token` shows it again).",
    ),
    (
        "login.wrong",
        "这不是网关令牌。",
        "That is not the gateway token.",
    ),
    (
        "login.throttled",
        "此地址输错令牌次数过多，请 {secs} 秒后再试。",
        "Too many wrong tokens from this address; try again in {secs} s.",
    ),
    // Status.
    ("status.title", "状态", "Status"),
    ("status.instance", "实例", "Instance"),
    ("status.version", "版本", "version"),
    ("status.up", "已运行", "up"),
    ("status.account", "账号", "Account"),
    ("status.mode", "模式", "Mode"),
    ("status.connection", "连接", "Connection"),
    ("status.last_message", "最近消息", "Last message"),
    ("status.messages", "消息数", "Messages"),
    ("status.reconnects", "重连次数", "Reconnects"),
    ("status.last_error", "最近错误", "Last error"),
    ("status.connected", "已连接", "connected"),
    ("status.disconnected", "未连接", "disconnected"),
    (
        "status.no_stream",
        "无 Stream 连接（通过 HTTP 接收或仅发送）",
        "no Stream connection (receives over HTTP or only sends)",
    ),
    ("status.none_yet", "暂无", "none yet"),
    ("status.turns", "正在运行的对话轮次：", "Turns running now:"),
    ("status.none", "无", "none"),
    ("status.mode_removed", "已从配置移除", "removed from config"),
    ("status.mode_robot", "自定义机器人", "custom robot"),
    (
        "status.no_accounts",
        "还没有配置钉钉账号。打开「初始化」，设置模型并添加钉钉渠道。",
        "No DingTalk account is configured yet. Open Setup to choose a model and add a DingTalk channel.",
    ),
    // Time.
    ("time.s_ago", "{n} 秒前", "{n} s ago"),
    ("time.min_ago", "{n} 分钟前", "{n} min ago"),
    ("time.h_ago", "{n} 小时前", "{n} h ago"),
    ("time.d_ago", "{n} 天前", "{n} d ago"),
    // Conversations.
    ("conv.title", "会话", "Conversations"),
    ("conv.none", "还没有会话。", "No conversations yet."),
    ("conv.session", "会话", "Session"),
    ("conv.agent", "智能体", "Agent"),
    ("conv.generation", "轮次", "Generation"),
    ("conv.last_active", "最近活跃", "Last active"),
    ("conv.one", "会话 {key}", "Conversation {key}"),
    (
        "conv.meta",
        "智能体 {agent} · 第 {generation} 轮 · 始于 {since}",
        "Agent {agent} · generation {generation} · since {since}",
    ),
    (
        "conv.empty",
        "此会话还没有消息。",
        "No messages in this conversation yet.",
    ),
    (
        "conv.not_a_number",
        "没有这个会话：编号不是数字。",
        "No such conversation: the id is not a number.",
    ),
    ("conv.missing", "没有会话 {id}。", "No conversation {id}."),
    ("role.system", "系统", "system"),
    ("role.user", "用户", "user"),
    ("role.assistant", "智能体", "agent"),
    ("role.tool", "工具结果", "tool result"),
    ("conv.calls", "调用", "calls"),
    (
        "conv.search",
        "按会话、账号或发送者搜索",
        "Search by conversation, account or sender",
    ),
    ("conv.all_agents", "所有智能体", "all agents"),
    ("conv.delete", "删除会话", "Delete the session"),
    (
        "conv.delete_note",
        "删除会话及其全部历史（长期记忆保留）。",
        "Deletes the session and all its history (durable memories stay).",
    ),
    (
        "conv.delete_confirm_title",
        "删除会话 {key}？",
        "Delete conversation {key}?",
    ),
    (
        "conv.delete_confirm",
        "会话及其所有轮次的聊天记录将被永久删除，正在运行的回合会被停止；该会话的下一条消息会开始一个新会话。智能体保存的长期记忆不受影响。",
        "The session and the history of all its generations are deleted for good, and a turn running in it is stopped; the conversation's next message starts a new session. The agent's durable memories are kept.",
    ),
    ("conv.delete_for_good", "永久删除", "Delete for good"),
    ("conv.keep", "保留", "Keep it"),
    (
        "conv.deleted",
        "已删除会话 {key}。",
        "Deleted conversation {key}.",
    ),
    ("conv.send_to_dingtalk", "发送到钉钉", "Send to DingTalk"),
    (
        "conv.sent",
        "回答 #{id} 已通过发件箱发送到钉钉会话。",
        "Answer #{id} was sent to the DingTalk conversation through the outbox.",
    ),
    (
        "conv.already_sent",
        "回答 #{id} 之前已经发送过，不会重复发送。",
        "Answer #{id} was already sent; it is not sent twice.",
    ),
    ("conv.reset", "重置会话", "Reset the session"),
    (
        "conv.continue",
        "在控制台继续这段对话",
        "Continue this conversation from the console",
    ),
    (
        "conv.continue_note",
        "同一个智能体、同样的历史；回复只显示在这里，除非你在回答下点“发送到钉钉”。",
        "Same agent, same history; the answer stays here unless you press \u{201c}Send to DingTalk\u{201d} under it.",
    ),
    (
        "conv.reset_note",
        "开始新的一轮（与聊天中的 /new 相同）：智能体不再记得之前的内容。",
        "starts a new generation (as /new in the chat does): the agent forgets what came before.",
    ),
    // Pairing.
    ("pairing.title", "配对请求", "Pairing requests"),
    (
        "pairing.approved",
        "已批准 {code}：该发送者现在可以给机器人发消息。",
        "Approved {code}: the sender may now message the bot.",
    ),
    ("pairing.rejected", "已拒绝 {code}。", "Rejected {code}."),
    (
        "pairing.none",
        "没有待处理的请求。陌生人给 dmPolicy 为 \"pairing\" 的机器人发消息后会出现在这里。",
        "No pending requests. An unknown sender who messages a bot with dmPolicy \"pairing\" appears here.",
    ),
    ("pairing.code", "配对码", "Code"),
    ("pairing.account", "账号", "Account"),
    ("pairing.sender", "发送者", "Sender"),
    ("pairing.requested", "请求时间", "Requested"),
    ("pairing.expires", "过期", "Expires"),
    ("pairing.expires_in", "{when}后", "in {when}"),
    ("pairing.approve", "批准", "Approve"),
    ("pairing.reject", "拒绝", "Reject"),
    ("pairing.earlier", "历史请求", "Earlier requests"),
    ("pairing.status", "状态", "Status"),
    // Scheduled tasks.
    ("cron.title", "定时任务", "Scheduled tasks"),
    (
        "cron.none",
        "没有定时任务。可以让智能体创建（“每天 9:00 …”），或使用 clawtalk cron add。",
        "No scheduled tasks. Ask the agent (\u{201c}every day at 9:00 …\u{201d}) or use clawtalk cron add.",
    ),
    ("cron.id", "编号", "ID"),
    ("cron.name", "名称", "Name"),
    ("cron.schedule", "计划", "Schedule"),
    ("cron.next", "下次运行", "Next run"),
    ("cron.target", "目标", "Target"),
    ("cron.agent", "智能体", "Agent"),
    ("cron.status", "状态", "Status"),
    ("cron.last", "上次运行", "Last run"),
    ("cron.unusable", "（无法使用）", "(unusable)"),
    ("cron.run_now", "立即运行", "Run now"),
    ("cron.delete", "删除", "Delete"),
    (
        "cron.run_requested",
        "已请求运行任务 #{id}；运行中的网关会在几秒内开始执行。",
        "Run requested for task #{id}; the running gateway starts it within a few seconds.",
    ),
    ("cron.deleted", "已删除任务 #{id}。", "Deleted task #{id}."),
    ("cron.no_task", "没有任务 {id}。", "There is no task {id}."),
    (
        "cron.not_active",
        "任务 #{id} 已不再活动（已完成或已删除）。",
        "Task #{id} is no longer active (finished or deleted).",
    ),
    ("cron.pause", "暂停", "Pause"),
    ("cron.resume", "恢复", "Resume"),
    ("cron.paused", "已暂停", "paused"),
    ("cron.runs", "共运行 {n} 次", "{n} run(s)"),
    ("cron.created", "已创建任务 #{id}。", "Created task #{id}."),
    (
        "cron.paused_notice",
        "已暂停任务 #{id}：计划的运行会被跳过，直到恢复。",
        "Paused task #{id}: its scheduled runs are skipped until it is resumed.",
    ),
    (
        "cron.resumed_notice",
        "已恢复任务 #{id}，从下一次计划时间开始运行。",
        "Resumed task #{id}; it runs again from its next scheduled time.",
    ),
    ("cron.form.title", "新建定时任务", "New scheduled task"),
    (
        "cron.form.no_account",
        "先在初始化页面添加一个钉钉机器人账号，才能创建定时任务。",
        "Add a DingTalk bot account on the Setup page before creating scheduled tasks.",
    ),
    ("cron.form.name", "名称（可选）", "Name (optional)"),
    ("cron.form.name_hint", "例如：北京天气", "e.g. Beijing weather"),
    (
        "cron.form.prompt",
        "每次运行时让智能体做什么",
        "What the agent does at each run",
    ),
    (
        "cron.form.prompt_hint",
        "例如：查询今天北京的天气并总结",
        "e.g. Check today's weather in Beijing and summarise it",
    ),
    ("cron.form.kind_cron", "Cron 表达式", "Cron expression"),
    ("cron.form.kind_every", "每隔", "Every"),
    ("cron.form.kind_at", "仅一次，时间", "Once, at"),
    ("cron.form.minutes", "分钟", "minutes"),
    ("cron.form.hours", "小时", "hours"),
    ("cron.form.timezone", "时区（IANA 名称）", "Time zone (IANA name)"),
    ("cron.form.account", "机器人账号", "Bot account"),
    (
        "cron.form.to_user",
        "私聊用户（staffId）",
        "DM to the user (staffId)",
    ),
    (
        "cron.form.to_group",
        "群（openConversationId）",
        "Group (openConversationId)",
    ),
    (
        "cron.form.to_robot",
        "群自定义机器人 Webhook 与加签密钥",
        "Group custom robot: webhook and SEC… secret",
    ),
    ("cron.form.create", "创建任务", "Create the task"),
    // MCP servers.
    ("mcp.title", "MCP 服务器与工具", "MCP servers and tools"),
    (
        "mcp.none",
        "没有配置 MCP 服务器。在配置的 mcp.servers 下添加（见 docs/mcp.md）。",
        "No MCP servers are configured. Add them under mcp.servers in the config (see docs/mcp.md).",
    ),
    ("mcp.server", "服务器", "Server"),
    ("mcp.transport", "传输方式", "Transport"),
    ("mcp.state", "状态", "State"),
    ("mcp.tools", "提供给智能体的工具", "Tools offered to agents"),
    ("mcp.last_error", "最近错误", "Last error"),
    ("mcp.restarts", "已重启 {n} 次", "restarted {n} time(s)"),
    ("mcp.probe", "探测", "Probe"),
    ("mcp.probe_of", "探测 {name}", "Probe of {name}"),
    (
        "mcp.probe_ok",
        "连接成功，{n} 个工具。",
        "Connected; {n} tool(s).",
    ),
    ("mcp.probe_failed", "失败：{error}", "Failed: {error}"),
    (
        "mcp.probe_times",
        "连接 {connect} ms，列出工具 {list} ms",
        "connect {connect} ms, tools/list {list} ms",
    ),
    (
        "mcp.filtered_out",
        "{n} 个被 toolFilter 隐藏",
        "{n} hidden by toolFilter",
    ),
    (
        "mcp.no_server",
        "没有名为 {name} 的 MCP 服务器。",
        "There is no MCP server named {name}.",
    ),
    (
        "mcp.note",
        "状态来自网关正在运行的连接；“探测”另外建立一次连接（与 clawtalk mcp probe 相同），不影响正在运行的连接。",
        "The state is the running gateway's connection; Probe makes one more connection of its own (as clawtalk mcp probe does) and leaves the running one alone.",
    ),
    ("mcp.state.running", "运行中", "running"),
    ("mcp.state.starting", "启动中", "starting"),
    ("mcp.state.restarting", "重启中", "restarting"),
    ("mcp.state.unavailable", "不可用", "unavailable"),
    ("mcp.state.disabled", "已禁用", "disabled"),
    (
        "mcp.state.not_started",
        "未启动（重新加载配置后启动）",
        "not started (starts with the next config reload)",
    ),
    // WebChat.
    ("chat.title", "WebChat", "WebChat"),
    ("chat.agent", "智能体 ", "Agent "),
    ("chat.switch", "切换", "Switch"),
    ("chat.placeholder", "给智能体发消息", "Message the agent"),
    ("chat.send", "发送", "Send"),
    (
        "chat.hint",
        " 回复会在智能体生成时显示在这里。",
        " The reply appears here as the agent writes it.",
    ),
    (
        "chat.cannot_read",
        "无法读取会话：",
        "cannot read the conversation: ",
    ),
    (
        "chat.no_agent",
        "没有智能体 {agent}，请从列表中选择。",
        "There is no agent {agent}; pick one from the list.",
    ),
    ("chat.empty", "请先输入消息。", "Type a message first."),
    (
        "chat.too_long",
        "消息太长，最多 {max} 个字符。",
        "The message is too long; at most {max} characters.",
    ),
    ("chat.stop", "停止", "Stop"),
    ("chat.thinking", "正在思考…", "Thinking…"),
    ("chat.using_tool", "正在使用 {tool}…", "Using {tool}…"),
    (
        "chat.refused",
        "发送失败，请刷新页面后重试。",
        "Not sent; reload the page and try again.",
    ),
    ("chat.shutdown", "网关正在关闭。", "The gateway is shutting down."),
    (
        "chat.approval.title",
        "需要你的批准才能调用 {tool}",
        "{tool} needs your approval",
    ),
    ("chat.approval.allow_once", "允许一次", "Allow once"),
    ("chat.approval.allow_always", "始终允许", "Always allow"),
    ("chat.approval.deny", "拒绝", "Deny"),
    (
        "chat.approval.allowed_once",
        "已允许一次（{by}）",
        "Allowed once by {by}",
    ),
    (
        "chat.approval.allowed_always",
        "已始终允许（{by}）",
        "Always allowed by {by}",
    ),
    ("chat.approval.denied", "已拒绝（{by}）", "Denied by {by}"),
    ("chat.approval.expired", "已超时，视为拒绝", "Expired: denied"),
    (
        "chat.approval.unknown",
        "没有这个等待批准的调用。",
        "There is no such call waiting for approval.",
    ),
    // Logs.
    ("logs.title", "日志", "Logs"),
    ("logs.level", "级别", "Level"),
    ("logs.all", "全部", "all"),
    ("logs.text", "包含文字", "Containing"),
    ("logs.apply", "筛选", "Filter"),
    ("logs.follow", "实时跟随", "Follow live"),
    ("logs.none", "没有符合条件的日志行。", "No log lines match."),
    (
        "logs.unreadable",
        "无法读取日志文件：",
        "Cannot read the log file:",
    ),
    // Config.
    ("config.title", "配置", "Config"),
    (
        "config.note",
        "启动时加载的配置；密钥已隐藏。用 `clawtalk config validate` 检查修改后的文件。",
        "As loaded at start-up; secrets are masked. Check a changed file with `clawtalk config validate`.",
    ),
    ("config.edit", "编辑配置文件", "Edit the config file"),
    (
        "config.edit_note",
        "保存前会用与 `clawtalk config validate` 相同的检查；密钥显示为掩码，保持不变则沿用原值。文件以 JSON 写回（注释不保留，原文件保留为 .bak）。",
        "Checked as `clawtalk config validate` checks it before it is saved; secrets show masked and keep their value while the mask stays. The file is written back as JSON (comments are not kept; the previous file is kept as .bak).",
    ),
    ("config.errors", "以下键有问题：", "Problems, by key:"),
    ("config.fix", "修复：", "Fix:"),
    ("config.save", "检查并保存", "Check and save"),
    (
        "config.not_saved",
        "未保存：发现 {n} 个问题。",
        "Not saved: {n} problem(s).",
    ),
    (
        "config.not_object",
        "配置文件必须是一个对象 { … }。",
        "The config file must be one object { … }.",
    ),
    (
        "config.mask_lost",
        "这里的掩码在原文件的同一位置没有对应的密钥；请直接填写密钥或 ${VAR} 引用。",
        "this mask has no secret at the same key in the file; type the secret or a ${VAR} reference here.",
    ),
    (
        "config.unreadable",
        "无法读取配置文件：",
        "Cannot read the config file:",
    ),
    // Setup.
    ("setup.title", "初始化", "Setup"),
    (
        "setup.intro",
        "选择模型并添加钉钉渠道；每一步都会先实际测试，再写入配置文件（权限 0600，原文件保留为 .bak）：",
        "Choose a model and add a DingTalk channel; each step is tested for real before it is written to the config file (mode 0600, the previous file kept as .bak):",
    ),
    ("setup.model", "模型", "Model"),
    ("setup.model.current", "当前默认模型：", "Current default model:"),
    ("setup.channel", "添加钉钉渠道", "Add DingTalk channel"),
    ("setup.channel.current", "已配置的账号：", "Configured accounts:"),
    ("setup.provider", "模型服务商", "Model provider"),
    (
        "setup.p.dashscope",
        "通义千问 Qwen（阿里云百炼 DashScope）",
        "Qwen (Alibaba Cloud Model Studio / DashScope)",
    ),
    (
        "setup.p.dashscope_coding",
        "通义千问 Coding Plan（百炼）",
        "Qwen Coding Plan (Model Studio)",
    ),
    (
        "setup.p.dashscope_intl",
        "通义千问（DashScope 国际站）",
        "Qwen (DashScope international)",
    ),
    ("setup.p.deepseek", "DeepSeek 深度求索", "DeepSeek"),
    ("setup.p.moonshot", "Kimi（月之暗面 Moonshot）", "Kimi (Moonshot)"),
    (
        "setup.p.zhipu",
        "智谱 GLM（open.bigmodel.cn）",
        "GLM (Zhipu, open.bigmodel.cn)",
    ),
    (
        "setup.p.zhipu_coding",
        "智谱 GLM Coding Plan",
        "GLM Coding Plan (Zhipu)",
    ),
    ("setup.p.zai", "GLM（Z.AI 国际站）", "GLM (Z.AI international)"),
    (
        "setup.p.token_plan",
        "百炼 Token Plan 团队版",
        "Model Studio Token Plan (team)",
    ),
    (
        "setup.p.custom",
        "其他 OpenAI 兼容接口（vLLM、Ollama、one-api…）",
        "Any OpenAI-compatible URL (vLLM, Ollama, one-api…)",
    ),
    (
        "setup.provider_id",
        "服务商 ID（仅自定义接口；写作 服务商/模型）",
        "Provider id (custom URL only; written as provider/model)",
    ),
    (
        "setup.base_url",
        "Base URL（自定义接口必填；预设可留空）",
        "Base URL (required for a custom URL; empty for a preset's own)",
    ),
    ("setup.api_key", "API Key", "API key"),
    ("setup.model_id", "模型", "Model"),
    (
        "setup.store_file",
        "写入配置文件（仅本人可读，0600）",
        "Write it into the config file (readable only by you, 0600)",
    ),
    (
        "setup.store_env",
        "不写入文件，改写为环境变量引用 ${VAR}：",
        "Keep it out of the file as a ${VAR} reference:",
    ),
    ("setup.test", "仅测试", "Test only"),
    ("setup.test_save", "测试并保存", "Test and save"),
    ("setup.check", "仅检查", "Check only"),
    ("setup.check_save", "检查并保存", "Check and save"),
    ("setup.account", "账号 ID", "Account id"),
    ("setup.mode", "连接方式", "Connection"),
    (
        "setup.mode.stream",
        "Stream 模式（推荐：主动连接，无需公网地址）",
        "Stream (recommended: outbound connection, no public URL)",
    ),
    (
        "setup.mode.http",
        "HTTP 回调（钉钉调用你的公网地址）",
        "HTTP callback (DingTalk calls a public URL of yours)",
    ),
    (
        "setup.mode.robot",
        "自定义机器人（群 Webhook，只能发到一个群）",
        "Custom robot (a group's webhook: sends into one group)",
    ),
    (
        "setup.app",
        "应用机器人（Stream / HTTP）",
        "App robot (Stream / HTTP)",
    ),
    (
        "setup.dm_policy",
        "谁可以私聊机器人",
        "Who may message the bot directly",
    ),
    (
        "setup.dm.pairing",
        "陌生人获得配对码，由你批准",
        "strangers get a code, you approve it",
    ),
    (
        "setup.dm.allowlist",
        "仅限下面列出的用户 ID",
        "only the user ids listed below",
    ),
    ("setup.dm.open", "组织内所有人", "everyone in your organisation"),
    ("setup.dm.disabled", "不接受私聊", "no direct messages"),
    (
        "setup.allow_from",
        "允许的用户 ID（逗号分隔）",
        "Allowed user ids (comma-separated)",
    ),
    ("setup.robot", "自定义机器人", "Custom robot"),
    ("setup.webhook_url", "Webhook 地址", "Webhook URL"),
    (
        "setup.webhook_secret",
        "加签密钥（SEC…，使用关键词时留空）",
        "Signing secret (SEC…; empty when the robot uses keywords)",
    ),
    (
        "setup.test_send",
        "检查时向群里发送一条测试消息（群内所有人可见）",
        "Post a test message into the group when checking (everyone there sees it)",
    ),
    ("setup.advanced", "高级", "Advanced"),
    (
        "setup.endpoints",
        "钉钉接口地址（代理或模拟器；留空为官方地址）",
        "DingTalk base URL (a proxy or the simulator; empty for DingTalk itself)",
    ),
    (
        "setup.saved",
        "已保存到 {path}（权限 0600）；正在应用。",
        "Saved to {path} (mode 0600); applying.",
    ),
    (
        "setup.export",
        "启动网关前请设置环境变量 {var}（配置中引用了它）。",
        "Set {var} in the gateway's environment before it starts (the config refers to it).",
    ),
    (
        "setup.invalid",
        "未写入：修改后的配置无效。",
        "Nothing was written: the changed config would not be valid.",
    ),
    (
        "setup.unknown_provider",
        "未知的服务商 {provider}，请从列表中选择。",
        "Unknown provider {provider}; pick one from the list.",
    ),
    (
        "setup.bad_provider_id",
        "服务商 ID {id} 不可用：只能包含字母、数字、- 和 _。",
        "{id} cannot be a provider id: use letters, digits, - and _.",
    ),
    (
        "setup.need_base_url",
        "自定义接口需要填写 Base URL（如 http://127.0.0.1:8000/v1）。",
        "A custom provider needs its base URL (e.g. http://127.0.0.1:8000/v1).",
    ),
    (
        "setup.bad_url",
        "{url} 不是 http(s) 地址。",
        "{url} is not an http(s) URL.",
    ),
    ("setup.need_model", "请填写模型名称。", "Enter the model id."),
    (
        "setup.bad_var",
        "{what}：环境变量名 {var} 无效，只能用大写字母、数字和 _。",
        "{what}: {var} is not a variable name; use upper-case letters, digits and _.",
    ),
    (
        "setup.var_unset",
        "无法测试：环境变量 {var} 在网关进程中未设置；请同时填写值，或先设置该变量。",
        "Cannot test: {var} is not set for the gateway; type the value as well, or set the variable first.",
    ),
    (
        "setup.model_ok",
        "模型 {model} 在 {ms} 毫秒内回答：{answer}",
        "{model} answered in {ms} ms: {answer}",
    ),
    (
        "setup.model_failed",
        "测试调用失败：{why}",
        "The test call failed: {why}",
    ),
    (
        "setup.bad_account",
        "账号 ID {id} 不可用：只能包含字母、数字、- 和 _（最多 64 个）。",
        "{id} cannot be an account id: use letters, digits, - and _ (at most 64).",
    ),
    (
        "setup.bad_webhook",
        "Webhook 地址有误：{why}",
        "The webhook URL is wrong: {why}",
    ),
    (
        "setup.need_client_id",
        "请填写 Client ID（AppKey）。",
        "Enter the Client ID (AppKey).",
    ),
    (
        "setup.need_client_secret",
        "请填写 Client Secret（AppSecret）。",
        "Enter the Client Secret (AppSecret).",
    ),
    (
        "setup.need_allow_from",
        "allowlist 需要至少一个允许的用户 ID。",
        "dmPolicy allowlist needs at least one allowed user id.",
    ),
    (
        "setup.robot_untested",
        "未发送测试消息（勾选上面的选项可发送一条）。",
        "No test message sent (tick the option above to send one).",
    ),
    (
        "setup.check_failed",
        "检查失败（{step}）：{why}",
        "The check failed at {step}: {why}",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn keys_are_unique_and_translated() {
        let mut keys: Vec<&str> = MESSAGES.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "a key is listed twice");
        for (key, zh, en) in MESSAGES {
            assert!(!zh.is_empty() && !en.is_empty(), "{key} lacks a text");
        }
    }

    #[test]
    fn texts_by_language_and_unknown_keys_as_they_are() {
        assert_eq!(t(Lang::Zh, "nav.status"), "状态");
        assert_eq!(t(Lang::En, "nav.status"), "Status");
        assert_eq!(t(Lang::Zh, "Agents"), "Agents");
        assert_eq!(
            tf(Lang::En, "pairing.rejected", &[("code", "AB12")]),
            "Rejected AB12."
        );
        assert_eq!(tf(Lang::Zh, "time.s_ago", &[("n", "5")]), "5 秒前");
    }

    #[test]
    fn placeholders_are_the_same_in_both_languages() {
        let names = |text: &str| {
            let mut found: Vec<String> = text
                .split('{')
                .skip(1)
                .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
                .collect();
            found.sort();
            found
        };
        for (key, zh, en) in MESSAGES {
            assert_eq!(names(zh), names(en), "{key}");
        }
    }

    #[test]
    fn the_query_beats_the_cookie_which_beats_the_browser() {
        let browser_zh = headers(&[(header::ACCEPT_LANGUAGE, "zh-CN,zh;q=0.9,en;q=0.8")]);
        assert_eq!(Lang::of(None, &browser_zh), Lang::Zh);
        let with_cookie = headers(&[
            (header::ACCEPT_LANGUAGE, "zh-CN"),
            (header::COOKIE, "clawtalk_session=x; clawtalk_lang=en"),
        ]);
        assert_eq!(Lang::of(None, &with_cookie), Lang::En);
        assert_eq!(Lang::of(Some("agent=a&lang=zh"), &with_cookie), Lang::Zh);
        // An unknown value in the query falls through to the cookie.
        assert_eq!(Lang::of(Some("lang=fr"), &with_cookie), Lang::En);
    }

    #[test]
    fn accept_language_weights() {
        let pick = |value: &str| accepted(&headers(&[(header::ACCEPT_LANGUAGE, value)]));
        assert_eq!(pick("en-US,en;q=0.9,zh-CN;q=0.95"), Some(Lang::En));
        assert_eq!(pick("fr-FR, zh-TW;q=0.5, en;q=0.4"), Some(Lang::Zh));
        assert_eq!(pick("de, zh;q=0"), None);
        assert_eq!(pick("fr"), None);
        assert_eq!(Lang::of(None, &HeaderMap::new()), Lang::En);
    }
}
