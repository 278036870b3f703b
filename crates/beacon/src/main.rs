//! beacon: a small HTTP service reporting its health and version, shipped as a static binary in
//! a `FROM scratch` image. This file parses the command line and dispatches; see `http` (the
//! routes, an axum router), `server` (hyper connections, signals, graceful stop), `healthcheck`
//! (the image's HEALTHCHECK) and `cli`.

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use tracing::{error, info};

mod cli;
mod healthcheck;
mod http;
mod server;

pub const NAME: &str = env!("CARGO_PKG_NAME");
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Baked in by build.rs: `$VCS_REF`'s first 7 hex digits, else `git rev-parse --short=7 HEAD`,
/// else `unknown`.
pub const REVISION: &str = env!("BUILD_REVISION");

/// Writes one line to stderr, for command-line messages (not logs). Never panics.
fn log_line(args: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            log_line(format_args!("beacon: {message}\n\n{}", cli::USAGE));
            return ExitCode::from(2);
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    match command {
        cli::Command::Help => print(cli::USAGE),
        cli::Command::Version => print(&format!("{NAME} {VERSION} ({REVISION})\n")),
        cli::Command::Serve { listen } => match cli::listen_addr(listen, env) {
            Ok(addr) => serve(addr),
            Err(message) => {
                log_line(format_args!("beacon: {message}"));
                ExitCode::from(2)
            }
        },
        cli::Command::Healthcheck { listen, port } => {
            // Exit 1 (not 2) on bad configuration: Docker reserves healthcheck exit code 2.
            let target = match port {
                Some(port) => Ok(healthcheck::probe_addr((cli::DEFAULT_LISTEN.ip(), port).into())),
                None => cli::listen_addr(listen, env).map(healthcheck::probe_addr),
            };
            match target {
                Ok(target) => healthcheck::run(target),
                Err(message) => {
                    log_line(format_args!("healthcheck: {message}"));
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn print(text: &str) -> ExitCode {
    let _ = io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

/// Structured logs (`LEVEL message key=value …`, with a UTC timestamp) on stderr. `RUST_LOG`
/// filters them: a level (`debug`) or per-target levels (`beacon=debug,warn`); default `info`.
fn init_logging() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;
    let (filter, bad) = match std::env::var("RUST_LOG") {
        Ok(value) if !value.trim().is_empty() => match value.parse::<Targets>() {
            Ok(filter) => (filter, None),
            Err(e) => (default_filter(), Some((value, e))),
        },
        _ => (default_filter(), None),
    };
    let format = tracing_subscriber::fmt::layer().with_writer(io::stderr).with_ansi(false).with_target(false);
    tracing_subscriber::registry().with(format).with(filter).init();
    if let Some((value, e)) = bad {
        tracing::warn!(value, error = %e, "ignoring invalid RUST_LOG, logging at info");
    }
}

fn default_filter() -> tracing_subscriber::filter::Targets {
    tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO)
}

/// Runs the server until SIGTERM/SIGINT; exit 0 after a clean stop, 1 if it cannot start.
fn serve(addr: SocketAddr) -> ExitCode {
    init_logging();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(format_args!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async {
        // Before announcing the server: a signal sent as soon as it is up must find the handlers.
        let stop = match server::termination() {
            Ok(stop) => stop,
            Err(e) => return fail(format_args!("cannot handle SIGTERM/SIGINT: {e}")),
        };
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(e) => return fail(format_args!("cannot listen on {addr}: {e}")),
        };
        let local = listener.local_addr().unwrap_or(addr);
        info!(version = %VERSION, revision = %REVISION, addr = %local, "listening");
        let stop = async {
            let signal = stop.await;
            info!(signal = %signal, "shutting down");
        };
        server::run(listener, http::router(), stop).await;
        info!("stopped");
        ExitCode::SUCCESS
    })
}

fn fail(message: fmt::Arguments<'_>) -> ExitCode {
    error!("{message}");
    ExitCode::FAILURE
}
