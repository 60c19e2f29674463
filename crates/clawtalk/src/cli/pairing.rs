//! `clawtalk pairing list|approve|reject`: the operator's side of `dmPolicy: pairing`.
//!
//! An unknown sender gets a code from the gateway; the operator lists pending codes and
//! approves or rejects them here. This is a separate process from the gateway: both open the
//! same SQLite file, and the gateway reads the allowlist from it on the sender's next message.

use std::io::Write;

use clap::{Args, Subcommand};

use super::common::{ConfigArg, open_store, table};
use crate::operator_text::{decision_error, human_duration};
use clawtalk_core::clock::{Clock, SystemClock};
use clawtalk_store::{PairingFilter, PairingRequest, PairingStatus, PairingStore};

/// `clawtalk pairing …`.
#[derive(Debug, Subcommand)]
pub enum PairingCommand {
    /// List pairing requests (pending ones unless --all).
    List(ListArgs),
    /// Approve a pairing code: its sender may then message the bot.
    Approve(DecideArgs),
    /// Reject a pairing code.
    Reject(DecideArgs),
}

/// `pairing list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Only requests to this account.
    #[arg(long, value_name = "ID")]
    account: Option<String>,
    /// Also approved, rejected and expired requests, newest first.
    #[arg(long)]
    all: bool,
}

/// `pairing approve|reject`.
#[derive(Debug, Args)]
pub struct DecideArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The code the user was shown (case, spaces and dashes do not matter).
    code: String,
}

/// Runs a `pairing` subcommand.
pub async fn run(command: PairingCommand) -> anyhow::Result<()> {
    let config = match &command {
        PairingCommand::List(a) => &a.config,
        PairingCommand::Approve(a) | PairingCommand::Reject(a) => &a.config,
    }
    .load()?;
    let store = open_store(&config).await?;
    let result = match command {
        PairingCommand::List(args) => list(&*store, &args).await,
        PairingCommand::Approve(args) => approve(&*store, &args.code).await,
        PairingCommand::Reject(args) => reject(&*store, &args.code).await,
    };
    // Closing waits for the writer to finish, so nothing decided here is left unwritten.
    store.close().await;
    result
}

async fn list(store: &dyn PairingStore, args: &ListArgs) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let filter = if args.all {
        PairingFilter::All
    } else {
        PairingFilter::Pending
    };
    let requests: Vec<PairingRequest> = store
        .pairing_list(filter, now)
        .await?
        .into_iter()
        .filter(|r| args.account.as_deref().is_none_or(|a| r.account_id == a))
        .collect();
    let mut out = std::io::stdout().lock();
    if requests.is_empty() {
        let which = if args.all { "" } else { "pending " };
        let scope = args
            .account
            .as_deref()
            .map(|a| format!(" for account {a}"))
            .unwrap_or_default();
        writeln!(out, "no {which}pairing requests{scope}")?;
        return Ok(());
    }
    let mut header = vec!["CODE", "ACCOUNT", "SENDER ID", "NICK", "REQUESTED", "EXPIRES IN"];
    if args.all {
        header.push("STATUS");
    }
    let rows: Vec<Vec<String>> = requests
        .iter()
        .map(|r| {
            let mut row = vec![
                r.code.clone(),
                r.account_id.clone().to_string(),
                r.sender_id.clone(),
                r.nick.clone(),
                format!(
                    "{} ago",
                    human_duration(now.as_millis() - r.created_at_ms.as_millis())
                ),
                match r.status {
                    PairingStatus::Pending => human_duration(r.expires_at_ms.as_millis() - now.as_millis()),
                    _ => "-".to_owned(),
                },
            ];
            if args.all {
                row.push(r.status.to_string());
            }
            row
        })
        .collect();
    write!(out, "{}", table(&header, &rows))?;
    Ok(())
}

async fn approve(store: &dyn PairingStore, code: &str) -> anyhow::Result<()> {
    let sender = store
        .pairing_approve(code, SystemClock.now())
        .await
        .map_err(|e| decision_error(e, "approve", SystemClock.now()))?;
    let nick = if sender.nick.is_empty() {
        String::new()
    } else {
        format!("{} ", sender.nick)
    };
    println!(
        "approved: {nick}({}) may now message account {}",
        sender.sender_id, sender.account_id
    );
    Ok(())
}

async fn reject(store: &dyn PairingStore, code: &str) -> anyhow::Result<()> {
    let request = store
        .pairing_reject(code, SystemClock.now())
        .await
        .map_err(|e| decision_error(e, "reject", SystemClock.now()))?;
    println!(
        "rejected pairing code {} of {} ({}) for account {}",
        request.code, request.nick, request.sender_id, request.account_id
    );
    Ok(())
}
