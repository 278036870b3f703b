//! `cargo xtask bench`: the pipeline measured against its goals, in one run on this machine, on a
//! scratch copy of the workspace (so code edits never touch yours). Medians of several runs; ratios
//! from figures taken in the same run. Benchmarks are not tests: nothing here fails on a time.
//!
//! P1 no-change rebuild · P2 code-only rebuild ÷ cold build · P3 each platform's cross build ÷
//! amd64's, and QEMU-emulated arm64 ÷ cross arm64 · P4 runtime image minus its binary, and a naive
//! image · P5 cold xtask compile and warm `cargo xtask plan` · P6 re-releasing unchanged content ·
//! P7 an empty engine's rebuild from the registry cache ÷ a cold build · P8 the cost per image of
//! `plan`, a no-change `build` and a dry-run `release` at 1, 4 and 16 images · P9 `audit` of the
//! re-released images · P10 a 2-platform release on 1 engine against 2 (`--second-engine`) · P11 a
//! cold release's build step ÷ the raw `cargo build` of the same binary (P11r: of a generated gateway with
//! a real service's dependency tree and thin LTO).
//! `--only` measures some rows. Besides the table, an SVG chart of the times (`--svg`, default
//! target/xtask/bench/benchmarks.svg).

mod builds;
mod chart;
mod compile;
mod engines;
mod gateway;
mod releases;
mod scaling;
mod select;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use xshell::{PushEnv, Shell};

use crate::commands::plan;
use crate::tools::{self, cargo, doctor, git};
use select::{Group, Selection};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// One run per figure, the first image only; no cold `--no-cache` build, no QEMU, naive or
    /// registry-cache build, and the per-platform cross build times (row P3) for amd64 and arm64
    /// only: checks that every row is measured.
    #[arg(long)]
    pub quick: bool,
    /// Print the rows as JSON.
    #[arg(long)]
    pub json: bool,
    /// Runs per timed figure; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Where to write the SVG chart of the figures.
    #[arg(long, value_name = "FILE", default_value = "target/xtask/bench/benchmarks.svg")]
    pub svg: PathBuf,
    /// Only these rows (comma-separated ids, e.g. `P9,P10`), with what they need measured first;
    /// `P11` is both P11 rows (your first image and a generated gateway), `P11r` the gateway alone.
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub only: Vec<String>,
    /// A second Docker engine for row P10 (DOCKER_HOST syntax, e.g.
    /// unix:///run/xtask-current/docker.sock): one platform's variant is built there while the other
    /// builds on this one. Without it P10 is not measured.
    #[arg(long, value_name = "HOST")]
    pub second_engine: Option<String>,
    #[command(flatten)]
    pub scan: plan::ScanOverrides,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub id: String,
    pub measure: String,
    pub goal: String,
    pub figure: String,
    /// `None` where the row compares rather than meets a goal, or was not measured.
    pub pass: Option<bool>,
    pub note: String,
}

impl Row {
    fn new(id: &str, measure: &str, goal: &str, figure: String, pass: Option<bool>) -> Row {
        Row { id: id.into(), measure: measure.into(), goal: goal.into(), figure, pass, note: String::new() }
    }

    fn note(self, note: impl Into<String>) -> Row {
        Row { note: note.into(), ..self }
    }

    fn not_measured(id: &str, measure: &str, why: &str) -> Row {
        Row::new(id, measure, "-", "not measured".into(), None).note(why)
    }
}

/// Times the chart draws, in seconds, by what they are (`cold`, `P3 linux/arm64`, …).
#[derive(Debug, Default)]
pub struct Figures(Vec<(String, f64)>);

impl Figures {
    fn add(&mut self, name: impl Into<String>, took: Duration) {
        self.0.push((name.into(), took.as_secs_f64()));
    }

    fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    fn starting_with(&self, prefix: &str) -> Vec<(String, f64)> {
        self.0.iter().filter_map(|(n, v)| Some((n.strip_prefix(prefix)?.to_owned(), *v))).collect()
    }
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let selection = Selection::parse(&args.only)?;
    doctor::require_engine(sh)?;
    if let Some(host) = args.second_engine.as_deref().filter(|_| selection.runs(Group::Engines)) {
        engines::check_second(sh, host)?;
    }
    let root = sh.current_dir();
    let runs = if args.quick { 1 } else { args.runs.max(1) };
    let copy = scratch_copy(sh, &root)?;
    copy_xtask(&copy)?;
    let mut figures = Figures::default();
    let mut rows = Vec::new();
    {
        let _in_copy = sh.push_dir(&copy);
        if selection.runs(Group::Builds) {
            rows.extend(builds::rows(sh, &args, runs, &selection, &mut figures)?);
        }
        if selection.runs(Group::Typed) {
            rows.push(builds::p1_as_typed(sh, runs)?);
        }
    }
    if selection.runs(Group::Xtask) {
        rows.extend(p5_xtask(sh, &root, &copy, runs, args.quick)?);
    }
    {
        let _in_copy = sh.push_dir(&copy);
        if selection.runs(Group::Releases) {
            rows.extend(releases::rows(sh, &args, runs, &selection)?);
        }
        if selection.runs(Group::Scaling) {
            rows.push(scaling::p8(sh, &copy, runs, &args.scan, &mut figures)?);
        }
        if selection.runs(Group::Engines) {
            rows.push(engines::p10(sh, &args, runs, &mut figures)?);
        }
        if selection.runs(Group::RegistryCache) {
            rows.push(if args.quick {
                Row::not_measured(
                    "P7",
                    "empty-engine rebuild from the registry cache ÷ cold build",
                    "--quick keeps the engine's cache",
                )
            } else {
                builds::p7_registry_cache(sh, runs, &mut figures)?
            });
        }
    }
    rows.retain(|row| selection.shows(&row.id));
    let machine = machine(sh);
    let svg_path = root.join(&args.svg);
    std::fs::create_dir_all(svg_path.parent().unwrap_or(&root))?;
    std::fs::write(&svg_path, chart(&machine, &figures))
        .with_context(|| format!("cannot write {}", svg_path.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "machine": machine, "rows": rows }))?);
    } else {
        println!("{}", table(&machine, &rows));
        println!("chart: {}", svg_path.display());
    }
    Ok(())
}

fn chart(machine: &serde_json::Value, figures: &Figures) -> String {
    let mut panels = vec![chart::Panel {
        title: "Build time per platform, cross-compiled (dependencies + service, toolchain cached)".into(),
        bars: figures.starting_with("P3 "),
    }];
    let pair = |a: &str, b: &str| -> Vec<(String, f64)> {
        [a, b].iter().filter_map(|name| Some((name.to_string(), figures.get(name)?))).collect()
    };
    panels.push(chart::Panel { title: "arm64: cross-compiled vs emulated (QEMU)".into(), bars: pair("cross", "QEMU") });
    panels.push(chart::Panel {
        title: "Rebuilds: cold vs cached vs an empty engine with the registry cache".into(),
        bars: ["cold", "code change", "no change", "empty engine, registry cache"]
            .iter()
            .filter_map(|name| Some((name.to_string(), figures.get(name)?)))
            .collect(),
    });
    panels.push(chart::Panel {
        title: "P11: a cold release's build step vs the raw cargo build of the same binary".into(),
        bars: pair("P11 release build step", "P11 raw cargo build"),
    });
    panels.push(chart::Panel {
        title: "P11r: the same for a generated gateway (~200 crates, thin LTO)".into(),
        bars: pair("P11r release build step", "P11r raw cargo build"),
    });
    panels.push(chart::Panel {
        title: "P10: a 2-platform release of one image, on 1 engine vs 2 (variants at once, then merge)".into(),
        bars: pair("1 engine", "2 engines"),
    });
    for command in ["plan", "no-change build", "dry-run release"] {
        panels.push(chart::Panel {
            title: format!("P8 {command}: 1, 4 and 16 images (2 platforms each)"),
            bars: figures.starting_with(&format!("P8 {command}, ")),
        });
    }
    let heading = format!(
        "cargo xtask bench — {} cores, docker {}, {}",
        machine["cores"],
        machine["docker"].as_str().unwrap_or(""),
        machine["date"].as_str().unwrap_or("")
    );
    chart::svg(&heading, &panels)
}

/// A committed copy of the workspace's files (as git sees the work tree: tracked, or untracked and
/// not ignored) under target/.
fn scratch_copy(sh: &Shell, root: &Path) -> Result<PathBuf> {
    let copy = root.join("target/xtask/bench/workspace");
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(copy.join("target/xtask"))?;
    for file in git::worktree_files(sh, &[".".to_owned()])? {
        let to = copy.join(&file);
        std::fs::create_dir_all(to.parent().unwrap_or(&copy))?;
        std::fs::copy(root.join(&file), &to).with_context(|| format!("cannot copy {file}"))?;
    }
    std::fs::write(copy.join(".gitignore"), "/target\n")?;
    // The bench signs with a throwaway key, offline: its releases say so (as a key-signed release
    // may), and its audit verifies their signatures without the transparency log.
    let manifest = copy.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)?;
    std::fs::write(&manifest, text.replace("\ntlog-upload = true", "\ntlog-upload = false"))?;
    let _in_copy = sh.push_dir(&copy);
    commit_all(sh)?;
    Ok(copy)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// `git init` and a commit of everything in the shell's directory, as the bench's own identity: a
/// scratch workspace the xtask can plan and release.
fn commit_all(sh: &Shell) -> Result<()> {
    let _identity = as_bench(sh);
    git::init(sh)?;
    git::add_all(sh)?;
    git::commit(sh, "bench")
}

/// A generated workspace: `dir` emptied, `files` (paths relative to it, and their text) written
/// with a `.gitignore` of its `target/`, its lock file resolved and everything committed, as the
/// bench.
fn write_workspace(sh: &Shell, dir: &Path, files: &[(impl AsRef<str>, impl AsRef<str>)]) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    let ignore = (".gitignore", "/target\n");
    let files = files.iter().map(|(path, text)| (path.as_ref(), text.as_ref())).chain([ignore]);
    for (relative, text) in files {
        let path = dir.join(relative);
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let _in_dir = sh.push_dir(dir);
    cargo::generate_lock_file(sh).context("cargo generate-lockfile")?;
    commit_all(sh)
}

/// Commits every change in the shell's directory (bench edits), as the bench.
fn commit_all_changes(sh: &Shell, message: &str) -> Result<()> {
    let _identity = as_bench(sh);
    git::commit_all_changes(sh, message).context("cannot commit the bench's edits")
}

/// The bench's own git identity, author and committer, in the shell's environment while kept.
fn as_bench(sh: &Shell) -> [PushEnv<'_>; 4] {
    [
        sh.push_env("GIT_AUTHOR_NAME", "bench"),
        sh.push_env("GIT_AUTHOR_EMAIL", "bench@localhost"),
        sh.push_env("GIT_COMMITTER_NAME", "bench"),
        sh.push_env("GIT_COMMITTER_EMAIL", "bench@localhost"),
    ]
}

/// A copy of this very xtask binary, to run a command as a runner types it (its output apart from
/// the bench's): a copy, so that a rebuild of the xtask during the bench changes nothing.
static XTASK: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn xtask() -> Result<PathBuf> {
    XTASK.get().cloned().context("the bench's copy of the xtask binary is not made yet")
}

fn copy_xtask(copy: &Path) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the running xtask binary")?;
    let to = copy.join("target/xtask/bench-xtask");
    std::fs::copy(&exe, &to).with_context(|| format!("cannot copy {} to {}", exe.display(), to.display()))?;
    let _ = XTASK.set(to);
    Ok(())
}

/// The scan overrides as flags again, for an xtask command the bench runs.
fn scan_args(scan: &plan::ScanOverrides) -> Vec<String> {
    let mut flags = Vec::new();
    if let Some(scanners) = &scan.scanners {
        let names: Vec<String> =
            scanners.iter().filter_map(|s| serde_json::to_value(s).ok()?.as_str().map(str::to_owned)).collect();
        flags.push(format!("--scanners={}", names.join(",")));
    }
    if let Some(repositories) = &scan.db_repository {
        flags.push(format!("--db-repository={}", repositories.join(",")));
    }
    flags
}

fn timed_runs(runs: usize, mut f: impl FnMut(usize) -> Result<Duration>) -> Result<Duration> {
    Ok(median((0..runs).map(&mut f).collect::<Result<Vec<_>>>()?))
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn p5_xtask(sh: &Shell, root: &Path, copy: &Path, runs: usize, quick: bool) -> Result<Vec<Row>> {
    let target = copy.join("target/cold-xtask");
    let cold = if quick {
        None
    } else {
        Some(timed_runs(runs, |_| {
            let _ = std::fs::remove_dir_all(&target);
            let started = Instant::now();
            tools::xtask::compile(sh, &target)?;
            Ok(started.elapsed())
        })?)
    };
    let _ = std::fs::remove_dir_all(&target);
    let _in_root = sh.push_dir(root);
    tools::xtask::cargo_xtask(sh, &["plan"])?;
    let plan = timed_runs(runs.max(5) * 2, |_| {
        let started = Instant::now();
        tools::xtask::cargo_xtask(sh, &["plan"])?;
        Ok(started.elapsed())
    })?;
    let p5 = "cold compile of the xtask (`cargo build -p xtask`, crates already downloaded)";
    Ok(vec![
        match cold {
            Some(cold) => Row::new("P5", p5, "≤ 15 s", secs(cold), Some(cold <= Duration::from_secs(15))),
            None => Row::not_measured("P5", p5, "--quick skips the cold compile"),
        },
        Row::new(
            "P5p",
            "warm `cargo xtask plan`, as typed (cargo's freshness check included)",
            "≤ 100 ms",
            format!("{} ms", plan.as_millis()),
            Some(plan <= Duration::from_millis(100)),
        ),
    ])
}

fn machine(sh: &Shell) -> serde_json::Value {
    let machine = tools::machine::describe(sh);
    serde_json::json!({
        "date": machine.date,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory": machine.memory,
        "kernel": machine.kernel,
        "docker": machine.docker,
        "buildx": machine.buildx,
    })
}

fn table(machine: &serde_json::Value, rows: &[Row]) -> String {
    let mut out = format!(
        "machine: {} cores, {} memory, kernel {}, docker {}, buildx {} — {}\n\n| id | measure | goal | figure | result |\n|---|---|---|---|---|\n",
        machine["cores"], machine["memory"].as_str().unwrap_or(""), machine["kernel"].as_str().unwrap_or(""),
        machine["docker"].as_str().unwrap_or(""), machine["buildx"].as_str().unwrap_or(""), machine["date"].as_str().unwrap_or("")
    );
    for row in rows {
        let result = match row.pass {
            Some(true) => "pass",
            Some(false) => "MISS",
            None => "-",
        };
        let note = if row.note.is_empty() { String::new() } else { format!(" ({})", row.note) };
        out.push_str(&format!("| {} | {}{note} | {} | {} | {result} |\n", row.id, row.measure, row.goal, row.figure));
    }
    out
}
