//! The test suite as `cargo xtask ci` runs it: compiled once, then in two lanes at the same time.
//! Most of an integration test's time is waiting on the engine, registries, QEMU and cosign, not
//! on the CPU, so two lanes finish far sooner than one on a 2-core runner.
//!
//! The test targets that build images under the unqualified default tags
//! (`ghcr.io/acme/beacon:0.1.0`, loaded into the shared engine) run one after another in the
//! `engine` lane; the `other` lane starts with the unit tests. Then both lanes take the remaining
//! targets (each pushes to its own throwaway registry under its own tags) from one queue, in
//! cargo's order, so they end together. A new test target joins the queue by itself: none is ever
//! left out, and every target runs even after one fails. Each lane's lines are printed as they
//! come, prefixed with the lane's name, and kept whole in `target/xtask/ci/<lane>.log`.
//!
//! Measured on a 2-core runner: two heavy release tests side by side, or one beside the first cold
//! build, ran up to 3.6× slower than alone (CPU, QEMU and the engine are shared), so the queue's
//! order matters. Cargo's order puts the light targets (adoption, doctor, preflight) beside the
//! cold build; the two lanes then took 914 s where one lane takes about 1350 s.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// Test targets of the xtask package that load images under the default tags: one at a time.
const ENGINE_LANE: &[&str] = &["images", "scale_out", "scan"];

/// `cargo test --workspace --locked`, compiled first, then run in two lanes; `test_args` go to
/// every test binary (after `--`).
pub fn run(sh: &Shell, test_args: &[&str]) -> Result<()> {
    cmd!(sh, "cargo test --workspace --locked --no-run").run().context("the test suite does not compile")?;
    let mut targets = test_targets(sh)?;
    if let Some(missing) = ENGINE_LANE.iter().find(|t| !targets.contains(&t.to_string())) {
        bail!("the engine lane names the test target {missing:?}, which xtask/tests/ does not have: update ENGINE_LANE in xtask/src/commands/test_lanes.rs");
    }
    targets.retain(|t| !ENGINE_LANE.contains(&t.as_str()));
    let queue = Arc::new(Mutex::new(targets.into_iter().collect::<VecDeque<_>>()));

    let root = sh.current_dir();
    let dir = root.join("target/xtask/ci");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let engine_first: Vec<Vec<&str>> = ENGINE_LANE.iter().map(|t| vec!["--test", *t]).collect();
    let other_first = vec![vec!["--lib", "--bins"]];
    let lanes = std::thread::scope(|scope| {
        let lanes = [("engine", engine_first), ("other", other_first)].map(|(name, first)| {
            let (queue, root, dir) = (queue.clone(), &root, &dir);
            scope.spawn(move || {
                let sh = Shell::new()?;
                sh.change_dir(root);
                let cargo_test = |selection: &[&str]| -> Command {
                    cmd!(sh, "cargo test --workspace --locked {selection...} -- {test_args...}").into()
                };
                let mut lane = Lane::open(name, &dir.join(format!("{name}.log")))?;
                for selection in first {
                    lane.run(&selection.join(" "), cargo_test(&selection))?;
                }
                while let Some(target) = queue.lock().ok().and_then(|mut q| q.pop_front()) {
                    lane.run(&format!("--test {target}"), cargo_test(&["--test", &target]))?;
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
        bail!("the test suite failed: {} (whole logs in {})", failed.join("; "), dir.display());
    }
    doc
}

/// The names of the xtask package's integration test targets (`xtask/tests/*.rs`).
fn test_targets(sh: &Shell) -> Result<Vec<String>> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .current_dir(sh.current_dir())
        .no_deps()
        .exec()
        .context("cannot read the workspace's test targets with `cargo metadata`")?;
    let xtask = metadata.packages.iter().find(|p| p.name == "xtask").context("the workspace has no xtask package")?;
    Ok(xtask
        .targets
        .iter()
        .filter(|t| t.kind.iter().any(|k| k.to_string() == "test"))
        .map(|t| t.name.clone())
        .collect())
}

/// One lane: its commands one after another, their output prefixed and logged, failures noted.
struct Lane {
    name: &'static str,
    log: Arc<Mutex<std::fs::File>>,
    failed: Vec<String>,
}

impl Lane {
    fn open(name: &'static str, log: &Path) -> Result<Lane> {
        let file = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        Ok(Lane { name, log: Arc::new(Mutex::new(file)), failed: Vec::new() })
    }

    /// Runs `command`, named in the output by `what` (its target selection, e.g. `--test release`).
    fn run(&mut self, what: &str, mut command: Command) -> Result<()> {
        eprintln!("{:>8} | ==> {what}", self.name);
        let started = std::time::Instant::now();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let printers =
            [print_lines(self.name, stdout, self.log.clone()), print_lines(self.name, stderr, self.log.clone())];
        let status = child.wait().with_context(|| format!("waiting for {what}"))?;
        for printer in printers {
            let _ = printer.join();
        }
        let verdict = if status.success() { "ok" } else { "FAILED" };
        eprintln!("{:>8} | <== {what} {verdict} in {:.1}s", self.name, started.elapsed().as_secs_f64());
        if !status.success() {
            self.failed.push(format!("{what} ({status})"));
        }
        Ok(())
    }
}

/// Copies a child's output line by line to stderr, prefixed with the lane's name, and to its log.
fn print_lines(
    lane: &'static str,
    from: impl Read + Send + 'static,
    log: Arc<Mutex<std::fs::File>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            eprintln!("{lane:>8} | {line}");
            if let Ok(mut file) = log.lock() {
                let _ = writeln!(file, "{line}");
            }
        }
    })
}
