//! Command-line interface: argument parsing and dispatch.

use std::net::SocketAddr;

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

/// A self-hosted AI-agent gateway for DingTalk.
#[derive(Debug, Parser)]
#[command(name = "clawtalk", version, about)]
pub struct Cli {
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty, env = "CLAWTALK_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable.
    Pretty,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the offline DingTalk simulator (Open Platform APIs, Stream gateway, chat page).
    Sim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8788")]
        addr: SocketAddr,
    },
}

/// Logs go to stderr; `RUST_LOG` overrides the default `info` level.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sim { addr } => crate::sim::run(addr).await,
    }
}
