//! `clawtalk message send`: a proactive message from a bot to a user or a group, through the
//! same delivery stack the gateway uses (robot OpenAPI, retries, rate limits, chunking).

use std::io::Read;
use std::sync::Arc;

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};
use dingtalk::ids::{ConversationId, StaffId};

use super::common::{ConfigArg, open_store, pick_account};
use clawtalk_core::clock::{Clock, SystemClock};
use clawtalk_delivery::chunk::{self, ChunkOptions};
use clawtalk_delivery::{Body, MAX_MENTIONS, Mentions, Outbound, OutboundMessage, Target};
use clawtalk_store::StoreBackend;

/// Longest default title: DingTalk shows it in the conversation list and notifications.
const MAX_DEFAULT_TITLE_CHARS: usize = 32;

/// `clawtalk message …`.
#[derive(Debug, Subcommand)]
pub enum MessageCommand {
    /// Send a message as a bot (robot OpenAPI: batchSend to a user, groupMessages/send to a group).
    Send(SendArgs),
}

/// `message send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Recipient: dingtalk:user:<staffId> or dingtalk:group:<openConversationId>. The
    /// `dingtalk:` prefix is optional; a bare `cid…` is a group, anything else a user. A
    /// custom-robot account sends to its group: `--to dingtalk`. `--target` is OpenClaw's
    /// spelling.
    #[arg(long, visible_alias = "target", value_name = "TARGET")]
    to: String,
    /// OpenClaw's channel selector; clawtalk sends through DingTalk only, so it may only say
    /// `dingtalk` (or the official plugin's `dingtalk-connector`).
    #[arg(long, value_name = "NAME")]
    channel: Option<String>,
    /// @-mention this staff id as well (repeatable; `@<mobile>` in the text is mentioned
    /// automatically). Webhook sends only: the robot OpenAPI cannot @.
    #[arg(long, value_name = "STAFF_ID")]
    at_user: Vec<String>,
    /// @-mention everyone in the group (webhook sends only).
    #[arg(long)]
    at_all: bool,
    /// Account (bot) to send as; default: the only enabled account, else `default`.
    #[arg(long, value_name = "ID")]
    account: Option<String>,
    /// Send as DingTalk markdown instead of plain text.
    #[arg(long)]
    markdown: bool,
    /// The message type, as the DingTalk plugins' guides spell it: `markdown` is `--markdown`.
    #[arg(long, value_enum, value_name = "TYPE", conflicts_with = "markdown")]
    action: Option<Action>,
    /// Markdown title shown in the conversation list (default: the first line of the text).
    #[arg(long, value_name = "T")]
    title: Option<String>,
    /// The message (OpenClaw's spelling; the same as the last argument).
    #[arg(short, long, value_name = "TEXT", conflicts_with = "text")]
    message: Option<String>,
    /// The message; `-` reads it from stdin. Long text is split into numbered parts.
    #[arg(required_unless_present = "message")]
    text: Option<String>,
}

/// `message send --action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Action {
    /// Plain text.
    Text,
    /// DingTalk markdown.
    Markdown,
}

impl SendArgs {
    fn markdown(&self) -> bool {
        self.markdown || self.action == Some(Action::Markdown)
    }

    /// The text as given, `-` for stdin.
    fn given_text(&self) -> &str {
        self.message
            .as_deref()
            .or(self.text.as_deref())
            .unwrap_or_default()
    }

    /// The options clap cannot check on its own.
    fn check(&self) -> anyhow::Result<()> {
        if let Some(channel) = &self.channel
            && !matches!(channel.as_str(), "dingtalk" | "dingtalk-connector")
        {
            bail!(
                "--channel {channel:?} is not a channel clawtalk has; it sends through DingTalk only, so use --channel dingtalk or leave it out"
            );
        }
        if self.title.is_some() && !self.markdown() {
            bail!("--title is the title of a markdown message; add --markdown (or --action markdown)");
        }
        Ok(())
    }
}

/// Runs a `message` subcommand.
pub async fn run(command: MessageCommand) -> anyhow::Result<()> {
    match command {
        MessageCommand::Send(args) => send(args).await,
    }
}

async fn send(args: SendArgs) -> anyhow::Result<()> {
    args.check()?;
    let named = parse_target(&args.to)?;
    let text = if args.given_text() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| anyhow!("cannot read the message from stdin: {e}"))?;
        text
    } else {
        args.given_text().to_owned()
    };
    if text.trim().is_empty() {
        bail!("the message is empty; pass the text as the last argument (or `-` to read stdin)");
    }
    let config = args.config.load()?;
    let account = pick_account(&config, args.account.as_deref())?;
    let robot = account.custom_robot_target();
    let target = match (named, &robot) {
        (None, Some(robot)) => robot.clone(),
        (Some(target), None) => target,
        (Some(_), Some(_)) => bail!(
            "account {:?} is a custom robot: it can only post to its own group; use --to dingtalk",
            account.id
        ),
        (None, None) => bail!(
            "--to {:?} names no recipient; use dingtalk:user:<staffId> or dingtalk:group:<openConversationId> \
             (only custom-robot accounts send with --to dingtalk)",
            args.to
        ),
    };

    let api = clawtalk_gateway::api_client(account);
    let mut mentions = Mentions::from_text(&text);
    mentions
        .user_ids
        .extend(args.at_user.iter().map(|id| StaffId::new(id.trim())));
    mentions.all |= args.at_all;
    if mentions.count() > MAX_MENTIONS {
        bail!(
            "{} people are mentioned; DingTalk allows at most {MAX_MENTIONS} per message",
            mentions.count()
        );
    }

    // Replicas on PostgreSQL take every send from a budget they share; a send from here
    // takes from it too, or it could push the robot over DingTalk's limit while they are busy.
    // A SQLite store has no shared budget (one gateway per file), so its file is not opened.
    let store = match StoreBackend::from_url(&config.store.url)? {
        StoreBackend::Postgres(_) => Some(open_store(&config).await?),
        StoreBackend::Sqlite(_) => None,
    };
    // No trace layer: its log lines would mix with this command's own output on stderr.
    let outbound = clawtalk_gateway::account_stack(
        account,
        api,
        store.as_ref().and_then(|s| s.shared_rate_budget()),
        &(Arc::new(SystemClock) as Arc<dyn Clock>),
    )
    .build();
    let result = send_parts(&*outbound, &account.id, &target, text, &args, &mentions).await;
    if let Some(store) = store {
        store.close().await;
    }
    result
}

/// Splits `text` and sends the parts in order, printing each one's receipt.
async fn send_parts(
    outbound: &dyn Outbound,
    account_id: &str,
    target: &Target,
    text: String,
    args: &SendArgs,
    mentions: &Mentions,
) -> anyhow::Result<()> {
    let text = if args.markdown() {
        clawtalk_delivery::markdown::to_dingtalk(&text)
    } else {
        text
    };
    let parts = chunk::split_with(
        &text,
        &ChunkOptions {
            // Fences only mean something in markdown; plain text is cut anywhere suitable.
            code_fences: args.markdown(),
            ..ChunkOptions::default()
        },
    );
    let title = args.title.clone().unwrap_or_else(|| default_title(&text));
    let batch = SystemClock.now_ms();
    let n = parts.len();
    for (i, part) in parts.into_iter().enumerate() {
        let body = if args.markdown() {
            Body::markdown(title.clone(), part.text)
        } else {
            Body::text(part.text)
        };
        let msg = OutboundMessage::new(
            account_id.to_owned(),
            target.clone(),
            body,
            format!("cli-{batch}/part-{}", i + 1),
        )
        .with_mentions(mentions.clone());
        let receipt = outbound.send(&msg).await.map_err(|e| {
            let sent = if i == 0 {
                String::new()
            } else {
                format!(" ({i} part{} already delivered)", if i == 1 { "" } else { "s" })
            };
            anyhow!(
                "part {}/{n} to {} was not delivered{sent}: {e}",
                i + 1,
                describe(target)
            )
        })?;
        let key = receipt
            .process_query_key
            .map_or_else(|| "-".to_owned(), |k| k.to_string());
        println!(
            "sent {}/{n} to {} as {}: processQueryKey {key}",
            i + 1,
            describe(target),
            account_id
        );
    }
    Ok(())
}

/// Parses `--to`: `[dingtalk:](user:|group:)id`; a bare id is a group when it looks like an
/// openConversationId (`cid…`), else a staff id. `dingtalk` alone names no one (`None`): the
/// account's own custom robot.
fn parse_target(to: &str) -> anyhow::Result<Option<Target>> {
    let raw = to.trim();
    if raw == "dingtalk" {
        return Ok(None);
    }
    let rest = raw.strip_prefix("dingtalk:").unwrap_or(raw);
    let (target, id) = if let Some(id) = rest.strip_prefix("user:") {
        (Target::User(StaffId::new(id.trim())), id.trim())
    } else if let Some(id) = rest.strip_prefix("group:") {
        (Target::Group(ConversationId::new(id.trim())), id.trim())
    } else if rest.starts_with("cid") {
        (Target::Group(ConversationId::new(rest)), rest)
    } else {
        (Target::User(StaffId::new(rest)), rest)
    };
    if id.is_empty() || id.contains(char::is_whitespace) {
        bail!(
            "--to {to:?} names no recipient; use dingtalk:user:<staffId> or \
             dingtalk:group:<openConversationId>"
        );
    }
    Ok(Some(target))
}

fn describe(target: &Target) -> String {
    match target {
        Target::User(id) => format!("user:{id}"),
        Target::Group(id) => format!("group:{id}"),
        other => other.kind().to_owned(),
    }
}

/// The first non-empty line without markdown heading marks, cut to a notification-sized length.
fn default_title(text: &str) -> String {
    let line = text
        .lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .find(|l| !l.is_empty())
        .unwrap_or("clawtalk");
    let mut title: String = line.chars().take(MAX_DEFAULT_TITLE_CHARS).collect();
    if line.chars().count() > MAX_DEFAULT_TITLE_CHARS {
        title.push('…');
    }
    title
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_and_without_prefixes() {
        let user = |s: &str| Some(Target::User(StaffId::new(s)));
        let group = |s: &str| Some(Target::Group(ConversationId::new(s)));
        assert_eq!(parse_target(" dingtalk ").unwrap(), None);
        assert_eq!(parse_target("dingtalk:user:0312").unwrap(), user("0312"));
        assert_eq!(parse_target("user:0312").unwrap(), user("0312"));
        assert_eq!(parse_target("0312").unwrap(), user("0312"));
        assert_eq!(
            parse_target("dingtalk:group:cidAbC==").unwrap(),
            group("cidAbC==")
        );
        assert_eq!(parse_target("cidAbC==").unwrap(), group("cidAbC=="));
        assert_eq!(parse_target("dingtalk:cidX").unwrap(), group("cidX"));
        for bad in ["", "dingtalk:", "user:", "group: ", "a b"] {
            assert!(parse_target(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn default_titles_come_from_the_first_line() {
        assert_eq!(default_title("\n## Deploy done\nall green"), "Deploy done");
        assert_eq!(default_title("   "), "clawtalk");
        let long = "x".repeat(40);
        assert_eq!(default_title(&long).chars().count(), MAX_DEFAULT_TITLE_CHARS + 1);
    }
}
