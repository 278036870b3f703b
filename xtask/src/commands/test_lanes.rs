//! The test suite as `cargo xtask ci` runs it: compiled once, then in two lanes at the same time.
//! Most of an integration test's time is waiting on the engine, registries, QEMU and cosign, not
//! on the CPU, so two lanes finish far sooner than one on a 2-core runner.
//!
//! The tests that build images under the unqualified default tags (`ghcr.io/acme/beacon:0.1.0`,
//! loaded into the shared engine) run one after another in the `engine` lane; every other test
//! target (each pushes to its own throwaway registry under its own tags) runs in the `releases`
//! lane, with the unit and doc tests. A new test target lands in `releases` by itself: none is
//! ever left out. Each lane's lines are printed as they come, prefixed with the lane's name, and
//! kept whole in `target/xtask/ci/<lane>.log`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// Test targets of the xtask package that load images under the default tags: one at a time.
const ENGINE_LANE: &[&str] = &["images", "scale_out", "scan"];

/// `cargo test --workspace --locked` (and `-- ARGS`), compiled first, then run in two lanes.
pub fn run(sh: &Shell, test_args: &[&str]) -> Result<()> {
    cmd!(sh, "cargo test --workspace --locked --no-run").run().context("the test suite does not compile")?;
    let targets = test_targets(sh)?;
    if let Some(missing) = ENGINE_LANE.iter().find(|t| !targets.iter().any(|name| name == *t)) {
        bail!("the engine lane names the test target {missing:?}, which xtask/tests/ does not have: update ENGINE_LANE in xtask/src/commands/test_lanes.rs");
    }
    let mut releases = vec!["--lib", "--bins"];
    let mut engine = Vec::new();
    for name in &targets {
        let lane = if ENGINE_LANE.contains(&name.as_str()) { &mut engine } else { &mut releases };
        lane.extend(["--test", name.as_str()]);
    }
    let dir = sh.current_dir().join("target/xtask/ci");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let lanes = [
        Lane::start(sh, "releases", &releases, test_args, &dir)?,
        Lane::start(sh, "engine", &engine, test_args, &dir)?,
    ];
    let failed: Vec<String> =
        lanes.into_iter().filter_map(|lane| lane.wait().err().map(|e| format!("{e:#}"))).collect();
    // Doc tests cannot be selected with the other targets; they take seconds.
    let doc = cmd!(sh, "cargo test --workspace --locked --doc -- {test_args...}").run().context("the doc tests failed");
    if !failed.is_empty() {
        bail!("{}", failed.join("\n"));
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

struct Lane {
    name: &'static str,
    child: Child,
    log: PathBuf,
    printers: Vec<std::thread::JoinHandle<()>>,
}

impl Lane {
    fn start(sh: &Shell, name: &'static str, targets: &[&str], test_args: &[&str], dir: &Path) -> Result<Lane> {
        let mut command: Command = cmd!(sh, "cargo test --workspace --locked {targets...} -- {test_args...}").into();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start the {name} lane of the test suite"))?;
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let file = std::sync::Arc::new(std::sync::Mutex::new(file));
        let stdout = child.stdout.take().context("no stdout")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let printers = vec![print_lines(name, stdout, file.clone()), print_lines(name, stderr, file)];
        eprintln!("    lane {name}: {} (log: {})", targets.join(" "), log.display());
        Ok(Lane { name, child, log, printers })
    }

    fn wait(mut self) -> Result<()> {
        let status = self.child.wait().with_context(|| format!("the {} lane of the test suite", self.name))?;
        for printer in self.printers {
            let _ = printer.join();
        }
        if !status.success() {
            bail!("the {} lane of the test suite failed ({status}): see {}", self.name, self.log.display());
        }
        Ok(())
    }
}

/// Copies a lane's output line by line to stderr, prefixed with the lane's name, and to its log.
fn print_lines(
    lane: &'static str,
    from: impl Read + Send + 'static,
    log: std::sync::Arc<std::sync::Mutex<std::fs::File>>,
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
