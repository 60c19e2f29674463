//! `clawtalk mcp list|probe`: the configured MCP servers, each connected once (as the gateway
//! would connect it) to show whether it starts and which tools agents get from it.

use std::io::Write;
use std::time::Duration;

use anyhow::bail;
use clap::Subcommand;
use serde_json::json;

use clawtalk_config::{Config, McpServerConfig};
use clawtalk_mcp::ProbeReport;

use super::common::ConfigArg;
use crate::operator_text::mcp_launch as launch;

/// `clawtalk mcp …`.
#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Every configured server: transport, whether it starts, and its tools.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Connect to one server, list its tools and report timings and errors (exit 1 when it
    /// fails).
    Probe {
        /// The server's name under mcp.servers.
        name: String,
        #[command(flatten)]
        config: ConfigArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: McpCommand) -> anyhow::Result<()> {
    match command {
        McpCommand::List { config, json } => list(&config.load()?, json).await,
        McpCommand::Probe { name, config, json } => {
            let config = config.load()?;
            let Some(server) = config.mcp.server(&name) else {
                let known: Vec<&str> = config.mcp.servers.iter().map(|s| s.name.as_str()).collect();
                if known.is_empty() {
                    bail!("no MCP server is configured; add one under mcp.servers (see docs/mcp.md)");
                }
                bail!("no MCP server named {name:?}; configured: {}", known.join(", "));
            };
            let report = clawtalk_mcp::probe(server).await;
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&report_json(server, Some(&report)))?
                )?;
            } else {
                write_probe(&mut out, server, &report)?;
            }
            out.flush()?;
            if report.error.is_some() {
                // The report above is the error message.
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

async fn list(config: &Config, json: bool) -> anyhow::Result<()> {
    let probes = config.mcp.servers.iter().map(|server| async move {
        let report = if server.enabled {
            Some(clawtalk_mcp::probe(server).await)
        } else {
            None
        };
        (server, report)
    });
    let results = futures_util::future::join_all(probes).await;
    let mut out = std::io::stdout().lock();
    if json {
        let servers: Vec<_> = results
            .iter()
            .map(|(server, report)| report_json(server, report.as_ref()))
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json!({ "servers": servers }))?
        )?;
    } else if results.is_empty() {
        writeln!(out, "no MCP servers configured (mcp.servers; see docs/mcp.md)")?;
    } else {
        for (server, report) in &results {
            let state = match report {
                None => "disabled".to_owned(),
                Some(r) => match &r.error {
                    None => format!("ready, {} tool(s)", r.tools.len()),
                    Some(e) => format!("FAILED: {e}"),
                },
            };
            writeln!(
                out,
                "{}  {}  {}  {state}",
                server.name,
                server.transport.kind(),
                launch(server)
            )?;
            if let Some(r) = report {
                for tool in &r.tools {
                    writeln!(out, "    {tool}")?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn write_probe(out: &mut impl Write, server: &McpServerConfig, r: &ProbeReport) -> std::io::Result<()> {
    writeln!(
        out,
        "server      {} ({}: {})",
        server.name,
        server.transport.kind(),
        launch(server)
    )?;
    if !server.enabled {
        writeln!(out, "note        enabled: false — the gateway does not start it")?;
    }
    if let Some(info) = &r.server_info {
        writeln!(out, "identifies  {info}")?;
    }
    writeln!(out, "connect     {}", millis(r.connect_time))?;
    if let Some(list) = r.list_time {
        writeln!(out, "tools/list  {}", millis(list))?;
    }
    writeln!(
        out,
        "tools       {}{}",
        r.tools.len(),
        if r.filtered_out > 0 {
            format!(" ({} hidden by toolFilter)", r.filtered_out)
        } else {
            String::new()
        }
    )?;
    for tool in &r.tools {
        writeln!(out, "    {tool}")?;
    }
    match &r.error {
        None => writeln!(out, "result      ok"),
        Some(e) => writeln!(out, "result      FAILED: {e}"),
    }
}

fn report_json(server: &McpServerConfig, report: Option<&ProbeReport>) -> serde_json::Value {
    json!({
        "name": server.name,
        "transport": server.transport.kind(),
        "launch": launch(server),
        "enabled": server.enabled,
        "requireApproval": server.require_approval,
        "timeoutSeconds": server.timeout.as_secs(),
        "ok": report.map(|r| r.error.is_none()),
        "connectMs": report.map(|r| r.connect_time.as_millis()),
        "listMs": report.and_then(|r| r.list_time).map(|d| d.as_millis()),
        "serverInfo": report.and_then(|r| r.server_info.clone()),
        "tools": report.map(|r| r.tools.clone()).unwrap_or_default(),
        "filteredOut": report.map_or(0, |r| r.filtered_out),
        "error": report.and_then(|r| r.error.clone()),
    })
}

fn millis(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}
