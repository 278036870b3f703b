//! The test suite as `cargo xtask ci` runs it: compiled once, then in two lanes at the same time.
//! Most of an integration test's time is waiting on the engine, registries, QEMU and cosign, not
//! on the CPU, so two lanes finish far sooner than one on a 2-core runner.
//!
//! The test targets that build images under the unqualified default tags
//! (`ghcr.io/acme/beacon:0.1.0`, loaded into the shared engine) run one after another in the
//! `engine` lane; the `other` lane starts with the unit tests. Then both lanes take the remaining
//! targets (each pushes to its own throwaway registry under its own tags) from one queue, the
//! longest first, so they end together. A new test target joins the queue by itself: none is ever
//! left out, and every target runs even after one fails. A target's output is written as it comes
//! to `target/xtask/ci/<target>.log`, and printed whole, unprefixed, when that target ends: the
//! blocks of two lanes never interleave, and each reads like plain `cargo test`.
//!
//! Measured on a 2-core runner: two heavy release tests side by side, or one beside the first cold
//! build, ran up to 3.6× slower than alone (CPU, QEMU and the engine are shared), so the queue's
//! order matters; taken in cargo's order, the longest targets (release, retract) came last, one
//! lane running them alone while the other had ended. The rehearsal, which builds every platform,
//! opens the engine lane. Why not three lanes: the suite is CPU-bound (sampled from /proc/stat,
//! two lanes kept a 2-core machine 93% busy on average); from a cold build cache, three lanes took
//! 1045 s where two took 989 s (2026-12-03).

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::tools::metadata::Metadata;

/// Test targets of the xtask package that load images under the default tags, or build in the
/// workspace's own `target/xtask` (as the rehearsal does): one at a time.
const ENGINE_LANE: &[&str] = &["images", "scale_out", "scan"];

/// The longest targets, longest first (as measured on a 2-core runner): the queue starts with them,
/// so the two lanes end together instead of one running a long target alone at the end. The targets
/// that compile the xtask cold (msrv, adoption) are spread out, each beside one that mostly waits on
/// registries and cosign: side by side, the two compiles took twice as long. The others follow in
/// cargo's order. Only an order: a name missing from `xtask/tests/` is ignored.
const LONGEST_FIRST: &[&str] =
    &["release", "retract", "flaky_registry", "msrv", "audit", "adoption", "fanout", "vuln_gate", "try_it_locally"];

/// `cargo test --workspace --locked`, compiled first, then run in two lanes; `test_args` go to
/// every test binary (after `--`). `beside`, a command named by its log (the release rehearsal),
/// opens the `engine` lane: it builds in the workspace's own `target/xtask`, as that lane's tests
/// do (run beside them it would overwrite their archives), and its waiting on the engine and the
/// registry overlaps the other lane's tests instead of following them.
pub fn run(sh: &Shell, test_args: &[&str], beside: Option<(&str, Command)>) -> Result<()> {
    cmd!(sh, "cargo test --workspace --locked --no-run").run().context("the test suite does not compile")?;
    let mut targets = test_targets(sh)?;
    if let Some(missing) = ENGINE_LANE.iter().find(|t| !targets.contains(&t.to_string())) {
        bail!("the engine lane names the test target {missing:?}, which xtask/tests/ does not have: update ENGINE_LANE in xtask/src/commands/test_lanes.rs");
    }
    targets.retain(|t| !ENGINE_LANE.contains(&t.as_str()));
    targets.sort_by_key(|t| LONGEST_FIRST.iter().position(|l| l == t).unwrap_or(LONGEST_FIRST.len()));
    let queue = Arc::new(Mutex::new(targets.into_iter().collect::<VecDeque<_>>()));

    let root = sh.current_dir();
    let dir = root.join("target/xtask/ci");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let engine_first: Vec<(Vec<&str>, &str)> = ENGINE_LANE.iter().map(|t| (vec!["--test", *t], *t)).collect();
    let other_first = vec![(vec!["--lib", "--bins"], "unit")];
    let beside = Mutex::new(beside);
    let lanes = std::thread::scope(|scope| {
        let lanes = [("engine", engine_first), ("other", other_first)].map(|(name, first)| {
            let (queue, root, dir, beside) = (queue.clone(), &root, &dir, &beside);
            scope.spawn(move || {
                let sh = Shell::new()?;
                sh.change_dir(root);
                let cargo_test = |selection: &[&str]| -> Command {
                    cmd!(sh, "cargo test --workspace --locked {selection...} -- {test_args...}").into()
                };
                let mut lane = Lane { name, dir: dir.clone(), failed: Vec::new() };
                if name == "engine" {
                    if let Some((log, command)) = beside.lock().ok().and_then(|mut b| b.take()) {
                        lane.run(&[log], log, command)?;
                    }
                }
                for (selection, log) in first {
                    lane.run(&selection, log, cargo_test(&selection))?;
                }
                while let Some(target) = queue.lock().ok().and_then(|mut q| q.pop_front()) {
                    let selection = ["--test", target.as_str()];
                    lane.run(&selection, &target, cargo_test(&selection))?;
                }
                Ok::<_, anyhow::Error>(lane.failed)
            })
        });
        lanes.map(|lane| lane.join().map_err(|_| anyhow::anyhow!("a test lane panicked")))
    });
    let mut failed = Vec::new();
    for lane in lanes {
        failed.extend(lane??);
    }
    // Doc tests cannot be selected together with the other targets; they take seconds.
    let doc = cmd!(sh, "cargo test --workspace --locked --doc -- {test_args...}").run().context("the doc tests failed");
    if !failed.is_empty() {
        bail!("the test suite failed: {}; each log's end says why", failed.join("; "));
    }
    doc
}

/// The names of the xtask package's integration test targets (`xtask/tests/*.rs`).
fn test_targets(sh: &Shell) -> Result<Vec<String>> {
    let metadata = Metadata::read(sh).context("cannot read the workspace's test targets")?;
    let xtask = metadata.packages.iter().find(|p| p.name == "xtask").context("the workspace has no xtask package")?;
    Ok(xtask.targets.iter().filter(|t| t.is_kind("test")).map(|t| t.name.clone()).collect())
}

/// One lane: its test targets one after another, each target's output kept in its own log and
/// printed whole when it ends, failures noted.
struct Lane {
    name: &'static str,
    dir: PathBuf,
    failed: Vec<String>,
}

/// Held while a finished target's output is printed, so two lanes' blocks never interleave.
static PRINTING: Mutex<()> = Mutex::new(());

impl Lane {
    /// Runs `command`, the tests of `selection` (e.g. `--test release`), which names it in the
    /// output. Its stdout and stderr go, in order, to `<dir>/<log>.log` (`tail -f` shows it live).
    fn run(&mut self, selection: &[&str], log: &str, mut command: Command) -> Result<()> {
        let what = selection.join(" ");
        let path = self.dir.join(format!("{log}.log"));
        let file = std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let copy = file.try_clone().with_context(|| format!("cannot reopen {}", path.display()))?;
        eprintln!("[{}] ==> {what} (live in {})", self.name, path.display());
        let started = std::time::Instant::now();
        let status = command
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(copy)
            .status()
            .with_context(|| format!("cannot run the tests of {what}"))?;
        let output = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let verdict = if status.success() { "ok" } else { "FAILED" };
        let _printing = PRINTING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(&output);
        let _ = stdout.flush();
        eprintln!("[{}] <== {what} {verdict} in {:.1}s", self.name, started.elapsed().as_secs_f64());
        if !status.success() {
            self.failed.push(format!("{what} ({status}, log {})", path.display()));
        }
        Ok(())
    }
}
