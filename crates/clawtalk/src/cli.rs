//! Command-line interface: argument parsing and dispatch.
//!
//! Each operator command lives in its own module under `cli/`; this file only names the
//! commands and routes to them.

mod agents;
pub(crate) mod channels;
mod common;
mod cron;
mod dashboard;
mod doctor;
mod logs;
mod mcp;
mod message;
pub(crate) mod pairing;
mod service;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::logging::LogFormat;

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the offline DingTalk simulator (Open Platform APIs, Stream gateway, chat page).
    Sim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8788")]
        addr: SocketAddr,
    },
    /// Run the gateway in the foreground (Ctrl-C or SIGTERM stops it gracefully).
    Gateway {
        #[command(subcommand)]
        command: GatewayCommand,
    },
    /// Start the DingTalk simulator, the gateway and a model, and chat in your browser.
    Demo {
        /// Address of the simulator's chat page and APIs.
        #[arg(long, default_value = "127.0.0.1:8788")]
        addr: SocketAddr,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Approve or reject users who asked to talk to a bot (dmPolicy `pairing`).
    Pairing {
        #[command(subcommand)]
        command: pairing::PairingCommand,
    },
    /// Scheduled tasks: list, add, cancel, or run one now.
    Cron {
        #[command(subcommand)]
        command: cron::CronCommand,
    },
    /// Send messages as a bot.
    Message {
        #[command(subcommand)]
        command: message::MessageCommand,
    },
    /// Set up a bot step by step (or with flags and --non-interactive), test it and save it.
    Onboard {
        #[command(subcommand)]
        command: OnboardCommand,
    },
    /// Show the DingTalk accounts and check them against DingTalk, or add one.
    Channels {
        #[command(subcommand)]
        command: channels::ChannelsCommand,
    },
    /// Add an agent with a workspace of starter files, or list the agents and their files.
    Agents {
        #[command(subcommand)]
        command: agents::AgentsCommand,
    },
    /// Print the web UI's address and how to log in.
    Dashboard(common::ConfigArg),
    /// Check the config, state directory, store, DingTalk accounts, permissions, clock and
    /// model providers; one line per finding (exit 1 on problems).
    Doctor(doctor::DoctorArgs),
    /// Print the gateway's log file (the last lines; --follow keeps printing new ones).
    Logs(logs::LogsArgs),
    /// MCP servers (mcp.servers): list them with their tools, or probe one.
    Mcp {
        #[command(subcommand)]
        command: mcp::McpCommand,
    },
}

/// `clawtalk onboard …`.
#[derive(Debug, Subcommand)]
pub enum OnboardCommand {
    /// A DingTalk bot: mode, credentials (tested against DingTalk), policies and a model.
    Dingtalk(Box<crate::onboard::OnboardArgs>),
}

/// `clawtalk gateway …`.
#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Connect every configured bot and answer messages until stopped.
    Run {
        /// Config file instead of the usual search.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Listen address instead of gateway.bind: `loopback` (127.0.0.1), `lan` (0.0.0.0) or an IP.
        #[arg(long, value_name = "ADDR", value_parser = parse_bind)]
        bind: Option<IpAddr>,
        /// Port instead of gateway.port (0 picks a free one, which is logged).
        #[arg(long, value_name = "PORT")]
        port: Option<u16>,
    },
    /// Print the token to log in to the web UI with.
    Token(common::ConfigArg),
    /// Show whether the gateway is running and each account's connection (exit 1 if not running).
    Status {
        /// Config file instead of the usual search (locates the state directory).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        unit: service::UnitArgs,
    },
    /// Install the gateway as a systemd service (system-wide as root, a user unit otherwise)
    /// and enable it.
    Install(service::InstallArgs),
    /// Stop and disable the service and remove its unit (config and state are kept).
    Uninstall(service::UnitArgs),
    /// Start the installed service.
    Start(service::UnitArgs),
    /// Stop the installed service (running turns finish first).
    Stop(service::UnitArgs),
    /// Restart the installed service.
    Restart(service::UnitArgs),
}

/// `clawtalk config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration and print every error and warning (exit 1 when invalid).
    Validate {
        /// Config file to check instead of the usual search (CLAWTALK_CONFIG,
        /// ~/.clawtalk/clawtalk.json, ~/.openclaw/openclaw.json, environment only).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Convert a channels.yaml (seed format) into clawtalk's JSON config, checked as the
    /// gateway would check it (exit 1 on errors, nothing written).
    Import {
        /// The channels.yaml to read.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Write (merge) into this file, mode 0600, instead of printing the JSON.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
}

/// `--bind`: the names `gateway.bind` accepts, or an IP address.
fn parse_bind(value: &str) -> Result<IpAddr, String> {
    match value {
        "loopback" | "localhost" => Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "lan" | "all" => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        other => other
            .parse()
            .map_err(|_| format!("{other:?} is not loopback, lan or an IP address")),
    }
}

/// Logs go to stderr; `RUST_LOG` overrides the default `info` level. A second layer writes
/// JSON lines to the gateway's log file once `gateway run` attaches it ([`clawtalk_gateway::logfile`]).
/// See [`crate::logging`].
pub fn init_tracing(format: LogFormat) {
    crate::logging::init(format);
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sim { addr } => crate::sim::run(addr).await,
        Command::Config { command } => run_config(command),
        Command::Gateway {
            command: GatewayCommand::Run { config, bind, port },
        } => {
            clawtalk_gateway::run(
                config.as_deref(),
                clawtalk_gateway::Listen { bind, port },
                crate::web::console,
            )
            .await
        }
        Command::Gateway {
            command: GatewayCommand::Token(args),
        } => dashboard::print_token(&args),
        Command::Dashboard(args) => dashboard::dashboard(&args),
        Command::Gateway {
            command: GatewayCommand::Status { config, json, unit },
        } => {
            let (line, service) = service::status(&unit);
            if !json {
                println!("{line}");
            }
            if !clawtalk_gateway::print_status(config.as_deref(), json, Some(service)).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Gateway {
            command: GatewayCommand::Install(args),
        } => service::install(&args),
        Command::Gateway {
            command: GatewayCommand::Uninstall(args),
        } => service::uninstall(&args),
        Command::Gateway {
            command: GatewayCommand::Start(args),
        } => service::control(service::Verb::Start, &args),
        Command::Gateway {
            command: GatewayCommand::Stop(args),
        } => service::control(service::Verb::Stop, &args),
        Command::Gateway {
            command: GatewayCommand::Restart(args),
        } => service::control(service::Verb::Restart, &args),
        Command::Demo { addr } => crate::demo::run(addr).await,
        Command::Pairing { command } => pairing::run(command).await,
        Command::Message { command } => message::run(command).await,
        Command::Cron { command } => cron::run(command).await,
        Command::Channels { command } => channels::run(command).await,
        Command::Agents { command } => agents::run(command),
        Command::Doctor(args) => doctor::run(args).await,
        Command::Logs(args) => logs::run(args).await,
        Command::Mcp { command } => mcp::run(command).await,
        Command::Onboard {
            command: OnboardCommand::Dingtalk(args),
        } => crate::onboard::run(*args, crate::onboard::Flavor::Onboard).await,
    }
}

fn run_config(command: ConfigCommand) -> anyhow::Result<()> {
    use clawtalk_config::command::{OutputFormat, import, validate};
    use std::io::Write;
    match command {
        ConfigCommand::Import { file, out } => {
            let mut stdout = std::io::stdout().lock();
            let ok = import(
                &file,
                out.as_deref(),
                &|name| std::env::var(name).ok(),
                &mut stdout,
            )?;
            stdout.flush()?;
            if !ok {
                // As for validate: the report above is the error message.
                std::process::exit(1);
            }
            Ok(())
        }
        ConfigCommand::Validate { config, json } => {
            let format = if json {
                OutputFormat::Json
            } else {
                OutputFormat::Text
            };
            let mut stdout = std::io::stdout().lock();
            let valid = validate(
                config.as_deref(),
                format,
                &|name| std::env::var(name).ok(),
                &mut stdout,
            )?;
            stdout.flush()?;
            if !valid {
                // The report is the error message; exiting here keeps `run`'s shared signature
                // and avoids a second "error: …" line. Nothing has been started that needs
                // cleaning up.
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
