//! Row P8 of `cargo xtask bench`: how the cost grows with the work. A generated workspace of 1, 4
//! and 16 tiny images (one small binary crate each, 2 platforms each), and per size the time of
//! `plan`, of a no-change `build` and of a dry-run `release` (preflight against a throwaway
//! registry). The cost per image at 16 must stay within 1.2× of the cost at 1: anything read once
//! per image that could be read once per run (git, cargo metadata, the registry) shows here.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use xshell::Shell;

use super::{timed_runs, write_workspace, Figures, Row};
use crate::commands::pipeline::{self, Pipeline};
use crate::commands::plan;
use crate::commands::rehearsal::Rehearsal;
use crate::steps::build::{self, Settings};

/// The workspace sizes measured.
pub const SIZES: [usize; 3] = [1, 4, 16];
const COMMANDS: [&str; 3] = ["plan", "no-change build", "dry-run release"];
/// The most the cost per image at 16 images may be of the cost at 1.
const GOAL: f64 = 1.2;

pub fn p8(sh: &Shell, root: &Path, runs: usize, scan: &plan::ScanOverrides, figures: &mut Figures) -> Result<Row> {
    let mut times: Vec<[Duration; 3]> = Vec::new();
    for size in SIZES {
        let dir = root.join(format!("target/xtask/bench/p8-{size}"));
        generate(sh, &dir, size)?;
        let _in_dir = sh.push_dir(&dir);
        let rehearsal = Rehearsal::start(sh)?;
        let options = plan::Options { registry: Some(rehearsal.namespace.clone()), ..Default::default() };
        let load = || plan::load_rehearsal(sh, &options, scan);
        let plan = load()?;
        build::build_all(sh, &plan, &Settings::default())?; // the first build, not timed
        let planned = timed_runs(runs, |_| {
            let started = Instant::now();
            load()?;
            Ok(started.elapsed())
        })?;
        let built = timed_runs(runs, |_| {
            let started = Instant::now();
            build::build_all(sh, &load()?, &Settings::default())?;
            Ok(started.elapsed())
        })?;
        let dry_run = Pipeline { rehearsal: true, ..Default::default() };
        let released = timed_runs(runs, |_| {
            let started = Instant::now();
            pipeline::publish(sh, &load()?, &dry_run)?;
            Ok(started.elapsed())
        })?;
        rehearsal.remove()?;
        for (command, took) in COMMANDS.iter().zip([planned, built, released]) {
            figures.add(format!("P8 {command}, {size} image{}", if size == 1 { "" } else { "s" }), took);
        }
        times.push([planned, built, released]);
    }
    let per_image = |at: usize, command: usize| times[at][command].as_secs_f64() / SIZES[at] as f64;
    let ratios: Vec<f64> = (0..COMMANDS.len()).map(|c| per_image(2, c) / per_image(0, c)).collect();
    let figure = COMMANDS
        .iter()
        .enumerate()
        .map(|(c, command)| {
            let at: Vec<String> = (0..SIZES.len()).map(|s| format!("{:.2}", times[s][c].as_secs_f64())).collect();
            format!("{command} {} s: {:.2}×", at.join(" / "), ratios[c])
        })
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Row::new(
        "P8",
        "cost per image at 16 images ÷ at 1 (plan, no-change build, dry-run release; 1 / 4 / 16 images, 2 platforms each)",
        "≤ 1.2",
        figure,
        Some(ratios.iter().all(|r| *r <= GOAL)),
    )
    .note("a generated workspace of tiny binaries; the build's first run is not timed"))
}

/// A workspace of `size` tiny binary crates, one image each (built with the engine's Dockerfile),
/// committed.
fn generate(sh: &Shell, dir: &Path, size: usize) -> Result<()> {
    let members: Vec<String> = (1..=size).map(|n| format!("\"crates/tiny{n}\"")).collect();
    let mut manifest = format!(
        "[workspace]\nmembers = [{}]\nresolver = \"2\"\n\n[workspace.package]\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [workspace.metadata.xtask]\nrelease-branches = [\"main\"]\n\n[workspace.metadata.xtask.signing]\nenabled = false\n",
        members.join(", ")
    );
    let mut files = Vec::new();
    for n in 1..=size {
        manifest.push_str(&format!(
            "\n[workspace.metadata.xtask.images.tiny{n}]\npackage = \"tiny{n}\"\n\
             target = \"runtime\"\nplatforms = [\"linux/amd64\", \"linux/arm64\"]\nrepositories = [\"ghcr.io/bench/tiny{n}\"]\n"
        ));
        files.push((
            format!("crates/tiny{n}/Cargo.toml"),
            format!("[package]\nname = \"tiny{n}\"\nversion.workspace = true\nedition.workspace = true\n"),
        ));
        files.push((
            format!("crates/tiny{n}/src/main.rs"),
            format!("fn main() {{\n    println!(\"tiny{n} {{}}\", env!(\"CARGO_PKG_VERSION\"));\n}}\n"),
        ));
    }
    files.push(("Cargo.toml".to_owned(), manifest));
    write_workspace(sh, dir, &files)
}
