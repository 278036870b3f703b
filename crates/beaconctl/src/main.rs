//! beaconctl: probes a beacon over HTTP and exits with what it found, as a Kubernetes exec probe
//! or an init container (`--wait`). One line of output; exit 0 healthy, 1 not, 2 usage error.
//! `cli` parses the arguments, `probe` talks HTTP (hyper's client, on a current-thread runtime).

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

mod cli;
mod probe;

pub const NAME: &str = env!("CARGO_PKG_NAME");
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Baked in by build.rs: `$VCS_REF`'s first 7 hex digits, else `git rev-parse --short=7 HEAD`,
/// else `unknown`.
pub const REVISION: &str = env!("BUILD_REVISION");

/// Pause between two probes with `--wait`.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    match cli::parse(std::env::args_os().skip(1)) {
        Ok(cli::Command::Help) => out(cli::USAGE.trim_end(), ExitCode::SUCCESS),
        Ok(cli::Command::Version) => out(&format!("{NAME} {VERSION} ({REVISION})"), ExitCode::SUCCESS),
        Ok(cli::Command::Probe(options)) => match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => match runtime.block_on(run(&options)) {
                Ok(line) => out(&line, ExitCode::SUCCESS),
                Err(line) => err(&line, ExitCode::FAILURE),
            },
            Err(e) => err(&format!("beaconctl: cannot start the runtime: {e}"), ExitCode::FAILURE),
        },
        Err(message) => err(&format!("beaconctl: {message}\n\n{}", cli::USAGE.trim_end()), ExitCode::from(2)),
    }
}

/// Probes once, or with `--wait` until healthy or the deadline; the line to print either way.
async fn run(options: &cli::Options) -> Result<String, String> {
    let started = Instant::now();
    let deadline = options.wait.map(|wait| started + wait);
    let expected = options.expect_version.as_deref();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        // A probe never runs past the deadline (but gets at least a moment to connect).
        let limit = match deadline {
            Some(deadline) => options.timeout.min(deadline.saturating_duration_since(Instant::now())),
            None => options.timeout,
        }
        .max(Duration::from_millis(100));
        let outcome = match tokio::time::timeout(limit, probe::probe(&options.target, expected)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                Err(probe::Failure::Unhealthy(format!("{}: no answer within {}", options.target.url, seconds(limit))))
            }
        };
        let waited = match (attempts, deadline) {
            (1, _) | (_, None) => String::new(),
            _ => format!(" (after {attempts} attempts in {})", seconds(started.elapsed())),
        };
        match outcome {
            Ok(found) => return Ok(format!("healthy: {found} at {}{waited}", options.target.url)),
            Err(failure) => {
                // Retry until the deadline: the last probe starts at the deadline itself.
                let left = deadline.map_or(Duration::ZERO, |d| d.saturating_duration_since(Instant::now()));
                if left.is_zero() {
                    let waited = match options.wait {
                        Some(_) => format!(" (gave up after {attempts} attempts in {})", seconds(started.elapsed())),
                        None => String::new(),
                    };
                    return Err(format!("{}: {failure}{waited}", failure.kind()));
                }
                tokio::time::sleep(left.min(RETRY_INTERVAL)).await;
            }
        }
    }
}

/// `1.5s`, `30s`, `250ms`.
fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64()).replace(".0s", "s")
    }
}

fn out(line: &str, code: ExitCode) -> ExitCode {
    let _ = writeln!(io::stdout().lock(), "{line}");
    code
}

fn err(line: &str, code: ExitCode) -> ExitCode {
    let _ = writeln!(io::stderr().lock(), "{line}");
    code
}
