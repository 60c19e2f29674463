//! `clawtalk dashboard` and `clawtalk gateway token`: where the web UI is and how to log in.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::common::ConfigArg;
use clawtalk_config::Config;
use clawtalk_gateway::token::{self, TokenSource};

/// The URL a browser on this machine opens for the configured listener.
fn local_url(config: &Config) -> String {
    let ip = if config.gateway.bind.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        config.gateway.bind
    };
    format!("http://{}/", SocketAddr::new(ip, config.gateway.port))
}

/// `clawtalk dashboard`: the URL and how to log in; the token itself is never printed here.
pub fn dashboard(args: &ConfigArg) -> anyhow::Result<()> {
    let config = args.load()?;
    if !config.gateway.control_ui {
        println!("The web UI is off (gateway.controlUi.enabled: false); enable it and restart the gateway.");
        return Ok(());
    }
    println!("Web UI: {}", local_url(&config));
    let hint = match token::existing(&config)? {
        Some((_, TokenSource::Config)) => "log in with gateway.auth.token from the config".to_owned(),
        Some((_, source)) => format!(
            "log in with the gateway token in {} (`clawtalk gateway token` prints it)",
            source_path(&source)
        ),
        None => "no gateway token yet: `clawtalk gateway run` creates one on its first start and prints it"
            .to_owned(),
    };
    println!("Login: {hint}");
    Ok(())
}

/// `clawtalk gateway token`: prints the token to log in with.
pub fn print_token(args: &ConfigArg) -> anyhow::Result<()> {
    let config = args.load()?;
    match token::existing(&config)? {
        Some((secret, _)) => {
            println!("{}", secret.expose());
            Ok(())
        }
        None => anyhow::bail!(
            "no gateway token yet: set gateway.auth.token, or start `clawtalk gateway run` once to generate one in {}",
            token::token_path(&config.gateway.state_dir).display()
        ),
    }
}

fn source_path(source: &TokenSource) -> String {
    match source {
        TokenSource::Stored(p) | TokenSource::Generated(p) => p.display().to_string(),
        TokenSource::Config => "the config".to_owned(),
    }
}
