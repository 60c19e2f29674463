//! The `clawtalk` binary: the command line ([`cli`]), the setup wizard ([`onboard`]), the web
//! console ([`web`]) mounted on the gateway's listener, `clawtalk demo` and `clawtalk sim`.
//!
//! Everything that handles messages lives in the crates below this one, each depending only
//! on those under it (see ARCHITECTURE.md): `clawtalk-core` → `clawtalk-llm`,
//! `clawtalk-config` → `clawtalk-store` → `clawtalk-delivery` → `clawtalk-agent` →
//! `clawtalk-gateway` → this binary. Nothing here is a library for others: the modules are
//! private, and the only exports are the entry point and the route list the security tests
//! walk.

mod cli;
mod demo;
mod logging;
mod onboard;
mod operator_text;
mod sim;
mod web;

use std::process::ExitCode;

use clap::Parser;
use clawtalk_gateway::routes::{HttpRoute, http_routes, listed};

/// The `clawtalk` command.
#[must_use]
pub fn main() -> ExitCode {
    clawtalk_gateway::memory::tune_allocator();
    let cli = cli::Cli::parse();
    cli::init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Every route the gateway's listener can serve with the web console mounted: the gateway's
/// own and the console's, each with its access level.
#[must_use]
pub fn all_http_routes() -> Vec<HttpRoute> {
    http_routes().into_iter().chain(listed(web::routes())).collect()
}
