//! The workspace's test suite as `cargo xtask ci` runs it: compiled once, then in two lanes at the
//! same time; a command that runs beside the tests (the release rehearsal) starts before their
//! compile, and its lane waits for it before taking tests. Most of an integration test's time is
//! waiting on the engine, registries, QEMU and cosign, not on the CPU, so two lanes finish far
//! sooner than one on a 2-core runner.
//!
//! The lanes know no test by name: they discover every integration test target of every member
//! (`cargo metadata`), so a new test joins by itself and none is ever left out. The `other` lane
//! starts with the unit tests, the `engine` lane with what runs beside the tests (the release
//! rehearsal, which builds in the workspace's own `target/xtask`); then both take the test targets
//! from one queue, those `[workspace.metadata.xtask.ci] longest-tests` names first, longest first,
//! so the lanes end together. Tests that must not run at the same time as another (two loading the
//! same local image tags, say) keep apart themselves, as they would under plain `cargo test`.
//! Every target runs even after one fails. A target's output is written as it comes to
//! `target/xtask/ci/<target>.log`, and printed whole, unprefixed, when it ends: two lanes' blocks
//! never interleave, and each reads like plain `cargo test`.
//!
//! Measured on a 2-core runner: two heavy release tests side by side ran up to 3.6× slower than
//! alone (CPU, QEMU and the engine are shared), so the queue's order matters. Why not three lanes:
//! the suite is CPU-bound (sampled from /proc/stat, two lanes kept a 2-core machine 93% busy on
//! average); from a cold build cache, three lanes took 1045 s where two took 989 s (2026-12-03).

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::steps::parallel;
use crate::tools::metadata::{Metadata, TargetKind};
use crate::tools::process::{Job, Running};
use crate::tools::{cargo, cargo_checks};

/// `cargo test --workspace --locked`, compiled first, then run in two lanes; `test_args` go to
/// every test binary (after `--`). `beside`, a command named by its log (the release rehearsal),
/// starts before the compile and opens the `engine` lane: its waiting on the engine and the
/// registry overlaps the compile and the other lane's tests instead of following them. (It needs no
/// build of this workspace: the xtask that runs it is built.) Should the compile fail, it is
/// waited for first, so nothing it started is left behind.
pub fn run(sh: &Shell, test_args: &[&str], beside: Option<(&str, Job)>) -> Result<()> {
    let root = sh.current_dir();
    let dir = root.join("target/xtask/ci");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let beside = beside.map(|(log, job)| Lane::new("engine", &dir).start(log, &job)).transpose()?;
    if let Err(error) = cargo_checks::compile_tests(sh).context("the test suite does not compile") {
        if let Some(beside) = beside {
            Lane::new("engine", &dir).finish(beside)?;
        }
        return Err(error);
    }
    let workspace = cargo::load(sh)?;
    let longest = workspace.config()?.ci.longest_tests;
    let mut targets = test_targets(&workspace.metadata);
    targets.sort_by_key(|t| longest.iter().position(|l| l == t).unwrap_or(longest.len()));
    let queue = Arc::new(Mutex::new(targets.into_iter().collect::<VecDeque<_>>()));

    let other_first = vec![(vec!["--workspace", "--lib", "--bins"], "unit")];
    let beside = Mutex::new(beside);
    let jobs = [("engine", Vec::new()), ("other", other_first)];
    let lanes = parallel::all(sh, &jobs, |sh, (name, first)| {
        let cargo_test = |selection: &[&str]| cargo_checks::tests(sh, selection, test_args);
        let mut lane = Lane::new(name, &dir);
        if *name == "engine" {
            if let Some(beside) = beside.lock().ok().and_then(|mut b| b.take()) {
                lane.finish(beside)?;
            }
        }
        for (selection, log) in first {
            lane.run(selection, log, cargo_test(selection))?;
        }
        // `--workspace`, not `--package`: the features the compile unified across the workspace
        // (a member's dev-dependency enabling a feature of another), so no target compiles a
        // member again with other features (the engine without `reference`: ~25 s of a cold run).
        while let Some(target) = queue.lock().ok().and_then(|mut q| q.pop_front()) {
            let selection = ["--workspace", "--test", target.as_str()];
            lane.run(&selection, &target, cargo_test(&selection))?;
        }
        Ok::<_, anyhow::Error>(lane.failed)
    });
    let mut failed = Vec::new();
    for lane in lanes {
        failed.extend(lane?);
    }
    // Doc tests cannot be selected together with the other targets; they take seconds.
    let doc = cargo_checks::doc_tests(sh, test_args).context("the doc tests failed");
    if !failed.is_empty() {
        bail!("the test suite failed: {}; each log's end says why", failed.join("; "));
    }
    doc
}

/// The names of every member's integration test targets (`tests/*.rs`), in cargo's order; a name
/// two members share once (`cargo test --workspace --test NAME` runs both).
fn test_targets(metadata: &Metadata) -> Vec<String> {
    let mut targets: Vec<String> = Vec::new();
    for package in metadata.workspace_packages() {
        for target in package.targets.iter().filter(|t| t.is_kind(TargetKind::Test)) {
            if !targets.contains(&target.name) {
                targets.push(target.name.clone());
            }
        }
    }
    targets
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

/// The command beside the tests, started: what it is, its log, and when it started.
struct Beside {
    what: String,
    path: PathBuf,
    running: Running,
    started: Instant,
}

impl Lane {
    fn new(name: &'static str, dir: &Path) -> Lane {
        Lane { name, dir: dir.to_owned(), failed: Vec::new() }
    }

    /// Announces `what`, whose output goes to `<dir>/<log>.log` (`tail -f` shows it live): that path.
    fn announce(&self, what: &str, log: &str) -> PathBuf {
        let path = self.dir.join(format!("{log}.log"));
        eprintln!("[{}] ==> {what} (live in {})", self.name, path.display());
        path
    }

    /// Starts `job`, named by its `log`, in the background: [`Lane::finish`] waits for it.
    fn start(&self, log: &str, job: &Job) -> Result<Beside> {
        let path = self.announce(log, log);
        let running = job.start_to_log(&path).with_context(|| format!("cannot start the {log}"))?;
        Ok(Beside { what: log.to_owned(), path, running, started: Instant::now() })
    }

    /// Runs `command`, the tests of `selection` (e.g. `--test release`), which names it in the
    /// output. Its stdout and stderr go, in order, to `<dir>/<log>.log`.
    fn run(&mut self, selection: &[&str], log: &str, command: Job) -> Result<()> {
        let what = selection.join(" ");
        let path = self.announce(&what, log);
        let started = Instant::now();
        let status = command.run_to_log(&path).with_context(|| format!("cannot run the tests of {what}"))?;
        self.report(&what, &path, started, status)
    }

    /// Waits for the command started beside the tests, then reports it as a target of this lane.
    fn finish(&mut self, beside: Beside) -> Result<()> {
        let status = beside.running.wait().with_context(|| format!("cannot wait for the {}", beside.what))?;
        self.report(&beside.what, &beside.path, beside.started, status)
    }

    /// Prints a finished target's log whole, then its verdict and time; notes a failure.
    fn report(&mut self, what: &str, path: &Path, started: Instant, status: ExitStatus) -> Result<()> {
        let output = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
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
