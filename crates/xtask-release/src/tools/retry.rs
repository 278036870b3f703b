//! Runs registry operations under the one retry policy (`rules::retry`): a tool run that fails
//! with a transient status is run again after a backoff wait, one line printed per retry, until it
//! succeeds, fails for a reason retrying cannot fix, or the attempts or the run's wait budget are
//! spent. Keeps, for the release record, how many retries each step made.
//!
//! Process-wide, like the console: the policy is set once when the configuration is read
//! (`configure`), and the budget is the whole run's. Nothing sleeps unless an attempt failed.

use std::collections::BTreeMap;
use std::process::Output;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Result;

use crate::console;
use crate::rules::retry::{self, Attempt, Attempted, Policy, RetryConfig, Transient};

struct State {
    policy: Policy,
    /// What this run has waited so far, all operations together.
    waited: Duration,
    /// Retries made, by step.
    counts: BTreeMap<String, u32>,
    seed: u64,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

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

/// Runs `attempt` (one attempt of `operation`, which talks to `registry`) until it is done, under
/// the policy: after a transient failure one retry line, a backoff wait counted against the run's
/// budget and the step's retries, then the next attempt. Gives up with an error naming the
/// operation, the registry, the last status and the attempts made, then the last attempt's words.
/// The one retry loop of the engine: every registry operation's repeats go through it.
pub fn retry<T>(operation: &str, registry: &str, attempt: impl FnMut() -> Result<Attempted<T>>) -> Result<T> {
    retry::repeat(attempt, |made, failed| wait(operation, registry, &failed.status, made, failed.retry_after))
}

/// One run of a tool, judged by the table ([`retry::MESSAGES`]): a success, or a failure that is not
/// transient, is done (for the caller to read: a tag that is absent, a refusal); a transient one is
/// tried again.
pub fn judge(output: Output) -> Attempted<Output> {
    if output.status.success() {
        return Attempted::Done(output);
    }
    let said = format!("{}\n{}", String::from_utf8_lossy(&output.stderr), String::from_utf8_lossy(&output.stdout));
    match Transient::of_output(&said) {
        Some(transient) => Attempted::Failed(transient),
        None => Attempted::Done(output),
    }
}

/// [`retry`] for a tool run that is safe to repeat as it is (a push by digest, a read): its last
/// output, a success or a failure that is not transient.
pub fn idempotent(operation: &str, registry: &str, mut attempt: impl FnMut() -> Result<Output>) -> Result<Output> {
    retry(operation, registry, || attempt().map(judge))
}

/// One wait of the policy, after `made` failed attempts.
fn wait(operation: &str, registry: &str, status: &str, made: u32, retry_after: Option<Duration>) -> Result<(), String> {
    let step = console::current_step();
    let a = Attempt { step: &step, operation, registry, status, made };
    let wait = with(|state| {
        let seed = state.seed.wrapping_add(u64::from(made)).wrapping_mul(0x2545_F491_4F6C_DD1D);
        state.seed = state.seed.wrapping_add(1);
        let wait = retry::wait(&state.policy, made, retry_after, seed);
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
