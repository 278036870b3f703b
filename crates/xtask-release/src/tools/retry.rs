//! Runs registry operations under the one retry policy (`rules::retry`): a tool run that fails
//! with a transient status is run again after a backoff wait, one line printed per retry, until it
//! succeeds, fails for a reason retrying cannot fix, or the attempts or the run's wait budget are
//! spent. Keeps, for the release record, how many retries each step made.
//!
//! Process-wide, like the console: the policy is set once when the configuration is read
//! (`configure`), and the budget is the whole run's. Nothing sleeps unless an attempt failed.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::process::Output;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Result};

use crate::console;
use crate::rules::retry::{self, Attempt, Failure, Policy, RetryConfig};

struct State {
    policy: Policy,
    /// What this run has waited so far, all operations together.
    waited: Duration,
    /// Retries made, by step.
    counts: BTreeMap<String, u32>,
    seed: u64,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
thread_local! {
    /// Set while a retry asks whether a failed attempt took effect: that read is not retried itself
    /// (a failed check means "not known to be done", and the operation is simply tried again). Per
    /// thread: operations running side by side (`steps::parallel`) keep their own retries.
    static CHECKING: Cell<bool> = const { Cell::new(false) };
}

fn with<T>(f: impl FnOnce(&mut State) -> T) -> T {
    let mut guard = STATE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let state = guard.get_or_insert_with(|| State {
        policy: RetryConfig::default().policy().expect("the default retry policy parses"),
        waited: Duration::ZERO,
        counts: BTreeMap::new(),
        seed: seed(),
    });
    f(state)
}

/// A seed for the jitter that differs between runs (parallel release jobs spread out).
fn seed() -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    (nanos as u64) ^ (u64::from(std::process::id()) << 32)
}

/// Sets the policy (`[workspace.metadata.xtask.retry]`) for the rest of the run.
pub fn configure(policy: Policy) {
    with(|state| state.policy = policy);
}

/// Retries made so far, by step.
pub fn counts() -> BTreeMap<String, u32> {
    with(|state| state.counts.clone())
}

/// Runs `attempt` (one run of a tool that talks to `registry`) until it succeeds or fails for
/// good, and returns that last output: a success, or a failure that is not transient, for the
/// caller to read (a tag that is absent, a refusal). Before every retry `done` is asked whether
/// the failed attempt took effect after all (a tag move the registry applied before the
/// connection dropped); if so the operation counts as done. Gives up with an error naming the
/// operation, the registry, the last status and the attempts made, then the tool's last lines.
pub fn run(
    operation: &str,
    registry: &str,
    mut attempt: impl FnMut() -> Result<Output>,
    mut done: impl FnMut() -> bool,
) -> Result<Output> {
    let mut made = 0;
    loop {
        let output = attempt()?;
        made += 1;
        if output.status.success() {
            return Ok(output);
        }
        let said = format!("{}\n{}", String::from_utf8_lossy(&output.stderr), String::from_utf8_lossy(&output.stdout));
        let Failure::Transient(status) = retry::classify(&said) else { return Ok(output) };
        if CHECKING.get() {
            return Ok(output);
        }
        match pause(operation, registry, &status, made, &said) {
            Ok(()) if check(&mut done) => return Ok(succeeded()),
            Ok(()) => {}
            Err(gave_up) => {
                let last: Vec<&str> = said.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
                let tail = last[last.len().saturating_sub(3)..].join("\n");
                bail!("{gave_up}\nthe last attempt said: {tail}");
            }
        }
    }
}

/// After `made` attempts of `operation` failed with transient `status` (the tool having said
/// `said`): prints the retry line and waits, or, when the attempts or the budget are spent,
/// returns the final error's text.
pub fn pause(operation: &str, registry: &str, status: &str, made: u32, said: &str) -> Result<(), String> {
    let step = console::current_step();
    let a = Attempt { step: &step, operation, registry, status, made };
    let wait = with(|state| {
        let seed = state.seed.wrapping_add(u64::from(made)).wrapping_mul(0x2545_F491_4F6C_DD1D);
        state.seed = state.seed.wrapping_add(1);
        let wait = retry::wait(&state.policy, made, retry::retry_after(said), seed);
        match retry::next_wait(&state.policy, made, state.waited, wait) {
            Some(wait) => {
                state.waited += wait;
                *state.counts.entry(step.clone()).or_default() += 1;
                eprintln!("{}", retry::retry_line(&a, &state.policy, wait));
                Ok(wait)
            }
            None => Err(retry::gave_up(&a, &state.policy, state.waited)),
        }
    })?;
    std::thread::sleep(wait);
    Ok(())
}

/// Runs `done` with retries off.
fn check(done: &mut impl FnMut() -> bool) -> bool {
    CHECKING.set(true);
    let done = done();
    CHECKING.set(false);
    done
}

/// [`run`] for an operation that is safe to repeat as it is (a push by digest, a read).
pub fn idempotent(operation: &str, registry: &str, attempt: impl FnMut() -> Result<Output>) -> Result<Output> {
    run(operation, registry, attempt, || false)
}

/// The output of an attempt found to have taken effect.
fn succeeded() -> Output {
    use std::os::unix::process::ExitStatusExt;
    Output { status: std::process::ExitStatus::from_raw(0), stdout: Vec::new(), stderr: Vec::new() }
}
