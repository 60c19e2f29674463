//! `clawtalk channels status [--probe] [--json]`: the configured DingTalk accounts and, with
//! `--probe`, whether DingTalk accepts each one right now.
//!
//! A probe does what the gateway does at start-up, minus the WebSocket: fetch an access token
//! (credentials) and ask `connections/open` for a ticket (app published, bot in Stream mode).
//! Opening the socket is left out on purpose: a second connection would make DingTalk split
//! the running gateway's messages between the two.

use std::io::Write;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::common::{ConfigArg, dm_policy_name, group_policy_name, mode_name, table};
use crate::onboard::probe::{Failure, check_app, probe_http_client};
use clawtalk_config::{ConnectionMode, DingTalkAccount};

/// `clawtalk channels …`.
#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// List the DingTalk accounts; --probe checks each enabled Stream account against DingTalk.
    Status(StatusArgs),
    /// Add a DingTalk account (the onboarding wizard, or flags with --non-interactive).
    Add(Box<crate::onboard::OnboardArgs>),
}

/// `channels status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Fetch an access token and a Stream ticket for every enabled Stream account (exit 1 if
    /// any fails). No WebSocket is opened. `--deep` is the same (the spelling older OpenClaw
    /// DingTalk guides use).
    #[arg(long, visible_alias = "deep")]
    probe: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs a `channels` subcommand.
pub async fn run(command: ChannelsCommand) -> anyhow::Result<()> {
    match command {
        ChannelsCommand::Status(args) => status(args).await,
        ChannelsCommand::Add(args) => crate::onboard::run(*args, crate::onboard::Flavor::ChannelsAdd).await,
    }
}

async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let probes = if args.probe {
        let http = probe_http_client()?;
        let runs = config.accounts.iter().map(|a| probe(&http, a));
        Some(futures_util::future::join_all(runs).await)
    } else {
        None
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{:#}", to_json(&config.accounts, probes.as_deref()))?;
    } else {
        write_text(&mut out, &config.accounts, probes.as_deref())?;
    }
    out.flush()?;
    let count = |pred: fn(&Probe) -> bool| probes.iter().flatten().filter(|p| pred(p)).count();
    let failed = count(|p| matches!(p, Probe::Failed(_)));
    if failed > 0 {
        let probed = count(|p| !matches!(p, Probe::Skipped(_)));
        bail!(
            "{failed} of {probed} probed account{} failed; see the report above",
            if probed == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// Result of probing one account.
#[derive(Debug)]
enum Probe {
    /// Token and ticket issued.
    Ok(Duration),
    /// Not probed, and why.
    Skipped(&'static str),
    /// What DingTalk (or the network) said.
    Failed(Failure),
}

async fn probe(http: &reqwest::Client, account: &DingTalkAccount) -> Probe {
    if !account.enabled {
        return Probe::Skipped("disabled");
    }
    if account.mode != ConnectionMode::Stream {
        return Probe::Skipped("not a Stream account");
    }
    match check_app(
        http,
        &account.client_id,
        &account.client_secret,
        &account.endpoints,
        true,
    )
    .await
    {
        Ok(took) => Probe::Ok(took),
        Err(failure) => Probe::Failed(failure),
    }
}

fn write_text(
    out: &mut dyn Write,
    accounts: &[DingTalkAccount],
    probes: Option<&[Probe]>,
) -> std::io::Result<()> {
    if accounts.is_empty() {
        writeln!(
            out,
            "no DingTalk account is configured; add channels.dingtalk.clientId/clientSecret or \
             set DINGTALK_CLIENT_ID/DINGTALK_CLIENT_SECRET"
        )?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = accounts
        .iter()
        .map(|a| {
            vec![
                a.id.clone(),
                a.channel.clone(),
                mode_name(a.mode).to_owned(),
                a.client_id.clone(),
                if a.enabled { "yes" } else { "no" }.to_owned(),
                dm_policy_name(a.dm_policy).to_owned(),
                group_policy_name(a.group_policy).to_owned(),
            ]
        })
        .collect();
    let header = [
        "ACCOUNT",
        "CHANNEL",
        "MODE",
        "CLIENT ID",
        "ENABLED",
        "DM POLICY",
        "GROUP POLICY",
    ];
    write!(out, "{}", table(&header, &rows))?;
    let Some(probes) = probes else {
        return Ok(());
    };
    writeln!(out)?;
    for (account, probe) in accounts.iter().zip(probes) {
        match probe {
            Probe::Ok(took) => writeln!(
                out,
                "probe {}: ok (access token and Stream ticket issued in {} ms)",
                account.id,
                took.as_millis()
            )?,
            Probe::Skipped(why) => writeln!(out, "probe {}: skipped ({why})", account.id)?,
            Probe::Failed(f) => writeln!(
                out,
                "probe {}: FAILED at {} [{}]: {}",
                account.id, f.step, f.kind, f.message
            )?,
        }
    }
    Ok(())
}

fn to_json(accounts: &[DingTalkAccount], probes: Option<&[Probe]>) -> Value {
    let list: Vec<Value> = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let probe = probes.and_then(|p| p.get(i)).map(|p| match p {
                Probe::Ok(took) => json!({"status": "ok", "ms": took.as_millis()}),
                Probe::Skipped(why) => json!({"status": "skipped", "reason": why}),
                Probe::Failed(f) => json!({
                    "status": "failed", "step": f.step, "kind": f.kind, "message": f.message,
                }),
            });
            json!({
                "id": a.id,
                "channel": a.channel,
                "name": a.name,
                "mode": mode_name(a.mode),
                "clientId": a.client_id,
                "robotCode": a.robot_code,
                "enabled": a.enabled,
                "dmPolicy": dm_policy_name(a.dm_policy),
                "groupPolicy": group_policy_name(a.group_policy),
                "probe": probe,
            })
        })
        .collect();
    json!({ "accounts": list })
}
