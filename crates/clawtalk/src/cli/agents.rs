//! `clawtalk agents add|list`: create an agent (in the config file, with a workspace of
//! starter files) and show the configured agents with their workspaces.
//!
//! `add` edits the config document like `channels add` does: other keys, `${VAR}` references
//! and unknown keys are kept, the previous file is kept as `.bak`, and the result must load,
//! or the old file is put back.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use super::common::{ConfigArg, table};
use clawtalk_agent::workspace::edit::{existing_files, read_file};
use clawtalk_agent::workspace::files::IDENTITY;
use clawtalk_agent::workspace::{parse_identity, starter::create_starter_files};
use clawtalk_config::{AccountMatch, AgentConfig, Config, ModelRef, PeerKind, Value, write_private};

/// `clawtalk agents …`.
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Add an agent to the config file and give it a workspace with starter files.
    Add(AddArgs),
    /// List the agents: name, model, workspace, bindings and which workspace files exist.
    List(ListArgs),
}

/// `agents add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The new agent's id (letters, digits, - or _; bindings refer to it).
    id: String,
    /// Display name (also written into the starter IDENTITY.md).
    #[arg(long)]
    name: Option<String>,
    /// Workspace directory (default: <stateDir>/workspace-<id>, as OpenClaw lays it out). An
    /// existing directory, such as an OpenClaw workspace, is used as it is.
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
    /// Model as provider/model (default: agents.defaults.model).
    #[arg(long, value_name = "PROVIDER/MODEL")]
    model: Option<String>,
    /// Config file to edit. Default: $CLAWTALK_CONFIG, else ~/.clawtalk/clawtalk.json.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

/// `agents list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs an `agents` subcommand.
pub fn run(command: AgentsCommand) -> anyhow::Result<()> {
    match command {
        AgentsCommand::Add(args) => add(args),
        AgentsCommand::List(args) => list(&args),
    }
}

fn add(args: AddArgs) -> anyhow::Result<()> {
    if !is_agent_id(&args.id) {
        bail!(
            "agent id {:?} is not usable: use 1–64 letters, digits, - or _",
            args.id
        );
    }
    if let Some(model) = &args.model
        && ModelRef::parse(model).is_none()
    {
        bail!("--model {model:?} is not a provider/model reference; write e.g. deepseek/deepseek-chat");
    }
    let path = crate::onboard::target_path(args.config.clone())?;
    let (mut doc, existed) = crate::onboard::read_target(&path)?;
    let before = existed.then(|| std::fs::read_to_string(&path)).transpose()?;
    add_to_document(&mut doc, &args)?;

    if let Some(text) = &before {
        let backup = path.with_extension("json.bak");
        write_private(&backup, text).with_context(|| {
            format!(
                "cannot keep a backup of {} at {}",
                path.display(),
                backup.display()
            )
        })?;
    }
    write_private(&path, &doc.to_pretty_json())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let config = match Config::load(Some(&path)) {
        Ok(loaded) => loaded.config,
        Err(errors) => {
            restore(&path, before.as_deref());
            let first = errors.errors.first().map(ToString::to_string).unwrap_or_default();
            bail!(
                "with agent {:?} the configuration would not load ({first}); {} was left as it was",
                args.id,
                path.display()
            );
        }
    };
    let agent = config
        .agent(&args.id)
        .ok_or_else(|| anyhow!("agent {:?} is missing after the edit", args.id))?;
    println!("added agent {:?} to {}", args.id, path.display());
    let workspace = &agent.workspace;
    if agent.bootstrap.skip {
        println!(
            "workspace: {} (skipBootstrap is set: no starter files written)",
            workspace.display()
        );
        return Ok(());
    }
    let name = agent.name.clone().unwrap_or_else(|| args.id.clone());
    let written = create_starter_files(workspace, &name)
        .with_context(|| format!("cannot create the workspace {}", workspace.display()))?;
    if written.is_empty() {
        println!(
            "workspace: {} (its files were kept as they are)",
            workspace.display()
        );
    } else {
        println!(
            "workspace: {} (wrote {})",
            workspace.display(),
            written.join(", ")
        );
    }
    println!("next: edit the files there, then bind the agent to a chat with a `bindings` entry");
    Ok(())
}

/// Puts the old file back after a failed edit (or removes the new one).
fn restore(path: &Path, before: Option<&str>) {
    let result = match before {
        Some(text) => write_private(path, text),
        None => std::fs::remove_file(path),
    };
    if let Err(e) = result {
        eprintln!("warning: could not restore {}: {e}", path.display());
    }
}

/// Adds the agent to `agents.entries` when the file uses that (current OpenClaw) shape, else
/// to `agents.list`.
fn add_to_document(doc: &mut Value, args: &AddArgs) -> anyhow::Result<()> {
    let mut entry = Vec::new();
    if let Some(name) = &args.name {
        entry.push(("name", Value::str(name)));
    }
    if let Some(model) = &args.model {
        entry.push(("model", Value::str(model)));
    }
    if let Some(dir) = &args.workspace {
        entry.push(("workspace", Value::str(dir.to_string_lossy())));
    }
    let agents = doc.object_at(&["agents"]);
    if let Some(Value::Object(entries)) = agents.get("entries") {
        if entries.iter().any(|(k, _)| *k == args.id) {
            bail!("agent {:?} already exists in agents.entries", args.id);
        }
        agents.object_at(&["entries"]).set(&args.id, Value::object(entry));
        return Ok(());
    }
    let mut list = match agents.remove("list") {
        Some(Value::Array(items)) => items,
        Some(_) => bail!("agents.list is not a list; fix it before adding an agent"),
        None => implicit_agents(doc, &args.id),
    };
    if list.iter().any(|a| a.get("id") == Some(&Value::str(&args.id))) {
        bail!("agent {:?} already exists in agents.list", args.id);
    }
    entry.insert(0, ("id", Value::str(&args.id)));
    list.push(Value::object(entry));
    doc.object_at(&["agents"]).set("list", Value::Array(list));
    Ok(())
}

/// The agents a file without `agents.list` runs implicitly (`main`, the default, and every
/// agent a binding names), written out so that adding a list does not drop them.
fn implicit_agents(doc: &Value, new_id: &str) -> Vec<Value> {
    let mut ids = vec!["main".to_owned()];
    if let Some(Value::Array(bindings)) = doc.get("bindings") {
        for b in bindings {
            if let Some(Value::String(id)) = b.get("agentId")
                && is_agent_id(id)
                && !ids.contains(id)
            {
                ids.push(id.clone());
            }
        }
    }
    ids.into_iter()
        .filter(|id| id != new_id)
        .map(|id| {
            let default = id == "main";
            let mut pairs = vec![("id", Value::str(id))];
            if default {
                pairs.push(("default", Value::Bool(true)));
            }
            Value::object(pairs)
        })
        .collect()
}

fn is_agent_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn list(args: &ListArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let agents: Vec<_> = config
            .agents
            .iter()
            .map(|a| {
                json!({
                    "id": a.id,
                    "default": a.id == config.default_agent,
                    "name": display_name(a),
                    "model": format!("{}/{}", a.model.provider, a.model.model),
                    "workspace": a.workspace,
                    "bindings": bindings_of(&config, &a.id),
                    "files": existing_files(&a.workspace),
                })
            })
            .collect();
        writeln!(out, "{:#}", json!({ "agents": agents }))?;
    } else {
        let rows: Vec<Vec<String>> = config
            .agents
            .iter()
            .map(|a| {
                let files = existing_files(&a.workspace);
                vec![
                    if a.id == config.default_agent {
                        format!("{} (default)", a.id)
                    } else {
                        a.id.clone()
                    },
                    display_name(a).unwrap_or_default(),
                    format!("{}/{}", a.model.provider, a.model.model),
                    a.workspace.display().to_string(),
                    match bindings_of(&config, &a.id) {
                        b if b.is_empty() => "-".to_owned(),
                        b => b.join("; "),
                    },
                    if files.is_empty() {
                        "(none)".to_owned()
                    } else {
                        files.join(" ")
                    },
                ]
            })
            .collect();
        let header = ["AGENT", "NAME", "MODEL", "WORKSPACE", "BINDINGS", "FILES"];
        write!(out, "{}", table(&header, &rows))?;
    }
    out.flush()?;
    Ok(())
}

/// The name the agent goes by: `identity.name`, else `name`, else its `IDENTITY.md`'s.
fn display_name(agent: &AgentConfig) -> Option<String> {
    agent
        .identity
        .name
        .clone()
        .or_else(|| agent.name.clone())
        .or_else(|| {
            let text = read_file(&agent.workspace, IDENTITY).ok()??;
            parse_identity(&text).name
        })
}

/// Each binding of `agent` in a few words: `dingtalk/default dm:*`, `dingtalk/* group:cid…`.
fn bindings_of(config: &Config, agent: &str) -> Vec<String> {
    config
        .bindings
        .iter()
        .filter(|b| b.agent_id == agent)
        .map(|b| {
            let account = match &b.account {
                AccountMatch::Any => "*",
                AccountMatch::Id(id) => id.as_str(),
            };
            let mut text = format!("{}/{account}", b.channel);
            if let Some(peer) = &b.peer {
                let kind = match peer.kind {
                    PeerKind::Direct => "dm",
                    PeerKind::Group => "group",
                };
                text.push_str(&format!(" {kind}:{}", peer.id));
            }
            if let Some(dept) = b.department {
                text.push_str(&format!(" department:{dept}"));
            }
            text
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_config::parse_document;

    fn args(id: &str) -> AddArgs {
        AddArgs {
            id: id.to_owned(),
            name: Some("Ops".into()),
            workspace: None,
            model: Some("deepseek/deepseek-chat".into()),
            config: None,
        }
    }

    #[test]
    fn a_first_list_keeps_the_implicit_agents() {
        let mut doc =
            parse_document("{ bindings: [{ agentId: 'helper', match: { channel: 'dingtalk' } }] }").unwrap();
        add_to_document(&mut doc, &args("ops")).unwrap();
        let ids: Vec<_> = match doc.at(&["agents", "list"]) {
            Some(Value::Array(items)) => items.iter().map(|a| a.get("id").cloned()).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            ids,
            [
                Some(Value::str("main")),
                Some(Value::str("helper")),
                Some(Value::str("ops"))
            ]
        );
    }

    #[test]
    fn entries_are_used_when_the_file_has_them_and_duplicates_are_refused() {
        let mut doc = parse_document("{ agents: { entries: { main: {} } } }").unwrap();
        add_to_document(&mut doc, &args("ops")).unwrap();
        assert_eq!(
            doc.at(&["agents", "entries", "ops", "name"]),
            Some(&Value::str("Ops"))
        );
        let err = add_to_document(&mut doc, &args("ops")).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        let mut listed = parse_document("{ agents: { list: [{ id: 'ops' }] } }").unwrap();
        assert!(add_to_document(&mut listed, &args("ops")).is_err());
    }
}
