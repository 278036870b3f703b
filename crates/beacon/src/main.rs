//! beacon: a small HTTP service reporting its health and version, shipped as a static binary in
//! a `FROM scratch` image. This file only parses the command line and dispatches; see `server`
//! (HTTP serving), `signals` (SIGTERM/SIGINT), `healthcheck` (the image's HEALTHCHECK) and `cli`.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

/// Writes one line to stderr. Unlike `eprintln!`, never panics (stderr may be closed).
macro_rules! log {
    ($($arg:tt)*) => { $crate::log_line(format_args!($($arg)*)) };
}

mod cli;
mod healthcheck;
mod http;
mod server;
mod signals;

pub const NAME: &str = env!("CARGO_PKG_NAME");
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Baked in by build.rs: `$BEACON_GIT_REVISION`, else `git rev-parse --short=7 HEAD`, else `unknown`.
pub const REVISION: &str = env!("BEACON_BUILD_REVISION");

fn log_line(args: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            log!("beacon: {message}\n\n{}", cli::USAGE);
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
                log!("beacon: {message}");
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
                    log!("healthcheck: {message}");
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

/// Runs the server until SIGTERM/SIGINT; exit 0 after a clean stop, 1 if it cannot start.
fn serve(addr: std::net::SocketAddr) -> ExitCode {
    // First, while this is the only thread: every thread spawned later inherits the mask.
    let signals = match signals::block_termination_signals() {
        Ok(signals) => signals,
        Err(e) => return fail(format_args!("cannot block SIGTERM/SIGINT: {e}")),
    };
    let listener = match std::net::TcpListener::bind(addr) {
        Ok(listener) => listener,
        Err(e) => return fail(format_args!("cannot listen on {addr}: {e}")),
    };
    let local = listener.local_addr().unwrap_or(addr);
    let (stopper, stop) = match server::stop_channel() {
        Ok(pair) => pair,
        Err(e) => return fail(format_args!("cannot create the stop channel: {e}")),
    };
    let waiter = signals.spawn_waiter(move |signal| {
        log!("received {}, shutting down", signals::name(signal));
        stopper.stop();
    });
    if let Err(e) = waiter {
        return fail(format_args!("cannot start the signal thread: {e}"));
    }
    log!("{NAME} {VERSION} ({REVISION}) listening on {local}");
    match server::run(listener, stop) {
        Ok(()) => {
            log!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(format_args!("server failed: {e}")),
    }
}

fn fail(message: fmt::Arguments<'_>) -> ExitCode {
    log!("beacon: {message}");
    ExitCode::FAILURE
}
