//! Row P10 of `cargo xtask bench`: the wall time of a 2-platform release of one image on one engine
//! against two (issue 27's one platform per runner). One engine: `release --execute` of the image.
//! Two engines: `release --platform` of each platform at once, one on this engine in the scratch
//! workspace and one on `--second-engine` in a clone of it (a second runner's checkout), then
//! `release merge` of both variants. Before each arm a code change is committed, so both compile the
//! service, their dependencies cached on both engines (warmed first, untimed). The merged index must
//! be the one-engine build's of the same commit: checked, and said in the row.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use super::{builds, commit_all_changes, scan_args, secs, xtask, Args, Figures, Row};
use crate::commands::plan;
use crate::commands::rehearsal::Rehearsal;
use crate::console;
use crate::rules::plan::ImagePlan;
use crate::rules::{fanout, matrix};
use crate::steps::build::{self, Settings};
use crate::steps::build_record::BuildRecord;
use crate::steps::record::ReleaseRecord;
use crate::steps::variant;
use crate::tools::xtask::Invocation;
use crate::tools::{docker, engine, git};

const MEASURE: &str =
    "2-platform release of one image: wall time on 1 engine, on 2 engines (variants at once, then merge)";

/// Fails early unless `host` is a Docker engine other than this one.
pub fn check_second(sh: &Shell, host: &str) -> Result<()> {
    let here = engine::id(sh).context("cannot read this engine's id")?;
    let there = engine::id_at(sh, host).with_context(|| {
        format!(
            "--second-engine {host}: no Docker engine answers there: start a second engine (in this repository: \
             `bash .ci/toolset.sh --beside current`, then --second-engine unix:///run/xtask-current/docker.sock) or \
             leave the flag out (row P10 is then not measured)"
        )
    })?;
    if here.trim() == there.trim() {
        bail!("--second-engine {host} is this machine's engine (id {}): name another engine", here.trim());
    }
    Ok(())
}

pub fn p10(sh: &Shell, args: &Args, runs: usize, figures: &mut Figures) -> Result<Row> {
    let Some(second) = args.second_engine.as_deref() else {
        return Ok(Row::not_measured(
            "P10",
            MEASURE,
            "no second engine: pass --second-engine HOST, the DOCKER_HOST of another Docker engine",
        ));
    };
    let plan = plan::load(sh, &plan::Options::default())?;
    let Some(image) = plan.images.iter().find(|i| i.platforms.len() == 2).cloned() else {
        return Ok(Row::not_measured("P10", MEASURE, "no configured image has exactly 2 platforms"));
    };
    let rehearsal = Rehearsal::start(sh)?;
    let host = rehearsal.namespace.split('/').next().context("a registry namespace without a host")?.to_owned();
    let copy = sh.current_dir();
    let runner2 = copy.join("target/xtask/bench-runner2");
    prepare_runners(sh, &image, (&host, second), &runner2)?;
    let arms =
        Arms { sh, image: &image, host: &host, second, copy: &copy, runner2: &runner2, scan: scan_args(&args.scan) };

    // Untimed: both engines' caches hold the dependencies of both platforms' compiles.
    let only_image = plan::Options { images: vec![image.name.clone()], ..Default::default() };
    build::build_all(sh, &plan::load(sh, &only_image)?, &Settings::default())?;
    arms.variants("warm", Some(&image.platforms[1]))?;

    let timed = arms.timed(runs)?;
    let (merged, namespace, variant_times) = timed.last.context("no run")?;
    let verdict = arms.compare_with_one_engine(&namespace, &merged)?;
    rehearsal.remove()?;
    clean_up(sh, &host, second, &runner2);

    let (one, two) = (super::median(timed.one), super::median(timed.two));
    figures.add("1 engine", one);
    figures.add("2 engines", two);
    let platforms = image.platforms.join(" + ");
    let [first, other] = [&variant_times[0], &variant_times[1]];
    Ok(Row::new(
        "P10",
        MEASURE,
        "(report)",
        format!("{} on 1, {} on 2: {:.2}×", secs(one), secs(two), two.as_secs_f64() / one.as_secs_f64()),
        None,
    )
    .note(format!(
        "{}: {platforms}; {} on this engine ‖ {} on {second}, then merge; a code change committed before each arm, \
         dependencies cached on both engines, both with the registry build cache (exported by every build); the merged index {verdict} the one-engine build's of that commit ({merged}); \
         both engines share this machine's cores",
        image.name,
        secs(*first),
        secs(*other),
    )))
}

/// The two runners of one release, as P10 needs them: the builder image on the second engine (the
/// same digest, so the same cache keys), a registry build cache configured and committed (both
/// engines compile with the same toolchain layers), and the second runner's checkout, a clone.
fn prepare_runners(sh: &Shell, image: &ImagePlan, (host, second): (&str, &str), runner2: &Path) -> Result<()> {
    copy_image(sh, &image.builder.image, second)?;
    let config = sh.current_dir().join("Cargo.toml");
    let text = std::fs::read_to_string(&config)?;
    let table = "[workspace.metadata.xtask.scan]";
    let cache = format!("[workspace.metadata.xtask.cache]\nregistry = \"{host}/cache\"\n\n{table}");
    std::fs::write(&config, text.replacen(table, &cache, 1))?;
    commit_all_changes(sh, "bench: a registry build cache")?;
    let copy = sh.current_dir();
    let _ = std::fs::remove_dir_all(runner2);
    git::clone(sh, &copy, runner2).context("cannot clone the second runner's checkout")?;
    Ok(())
}

/// Removes what the releases left: the images both engines loaded under the throwaway registry's
/// name, and the second runner's checkout.
fn clean_up(sh: &Shell, host: &str, second: &str, runner2: &Path) {
    docker::untag_namespace(sh, host);
    let _on_second = sh.push_env("DOCKER_HOST", second);
    docker::untag_namespace(sh, host);
    let _ = std::fs::remove_dir_all(runner2);
}

/// The wall times of the timed runs of each arm, and of the last two-engine run: the merged index
/// digest, its registry namespace and each variant's time.
struct Timed {
    one: Vec<Duration>,
    two: Vec<Duration>,
    last: Option<(String, String, Vec<Duration>)>,
}

struct Arms<'a> {
    sh: &'a Shell,
    image: &'a ImagePlan,
    host: &'a str,
    second: &'a str,
    copy: &'a Path,
    runner2: &'a Path,
    scan: Vec<String>,
}

/// Both variants of one arm: their directories (for `release merge`) and wall times.
struct Variants {
    dirs: Vec<PathBuf>,
    took: Vec<Duration>,
}

impl<'a> Arms<'a> {
    /// `xtask ARGS --image I --registry HOST/NAMESPACE` (on the second engine with `second`): what a
    /// runner types, outside GitHub Actions. It runs in the shell's directory when it runs.
    fn command(&self, second: Option<&str>, args: &[&str], namespace: &str) -> Result<Invocation> {
        // `build` scans nothing: no scan overrides.
        let scan = if args.first() == Some(&"build") { &[][..] } else { &self.scan[..] };
        let registry = format!("{}/{namespace}", self.host);
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(["--image".to_owned(), self.image.name.clone(), "--registry".to_owned(), registry]);
        all.extend(scan.iter().cloned());
        let mut env = vec![("GITHUB_ACTIONS".to_owned(), String::new())];
        env.extend(second.map(|host| ("DOCKER_HOST".to_owned(), host.to_owned())));
        Ok(Invocation { exe: xtask()?, args: all, env })
    }

    /// `command` in `dir`, its output read (stdin empty).
    fn xtask(&self, dir: &Path, second: Option<&str>, args: &[&str], namespace: &str) -> Result<String> {
        let _in_dir = self.sh.push_dir(dir);
        let out = self.command(second, args, namespace)?.output(self.sh)?;
        if !out.status.success() {
            bail!(
                "`cargo xtask {}` failed in {}:\n{}",
                args.join(" "),
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `runs` times each arm, a code change committed before each: the one-engine release, then
    /// both variants at once and their merge.
    fn timed(&self, runs: usize) -> Result<Timed> {
        let (sh, image, copy, runner2) = (self.sh, self.image, self.copy, self.runner2);
        let mut timed = Timed { one: Vec::new(), two: Vec::new(), last: None };
        for n in 0..runs {
            builds::change_code(sh, image, 1000 + 2 * n)?;
            commit_all_changes(sh, "bench: a code change, one engine")?;
            let started = Instant::now();
            let one_engine = self.xtask(copy, None, &["release", "--execute", "--json"], &format!("one{n}"))?;
            timed.one.push(started.elapsed());
            console::progress!("    P10 run {}: 1 engine {}", n + 1, secs(started.elapsed()));
            index_digest(&one_engine, "the one-engine release")?;

            builds::change_code(sh, image, 1001 + 2 * n)?;
            commit_all_changes(sh, "bench: a code change, two engines")?;
            git::pull_fast_forward(sh, runner2).context("cannot update the second runner")?;
            let started = Instant::now();
            let namespace = format!("two{n}");
            let variants = self.variants(&namespace, None)?;
            let mut merge = vec!["release".to_owned(), "merge".to_owned(), "--json".to_owned()];
            merge.extend(variants.dirs.iter().map(|d| d.display().to_string()));
            let merge: Vec<&str> = merge.iter().map(String::as_str).collect();
            let merged = self.xtask(copy, None, &merge, &namespace)?;
            timed.two.push(started.elapsed());
            console::progress!(
                "    P10 run {}: 2 engines {} (variants {:?})",
                n + 1,
                secs(started.elapsed()),
                variants.took
            );
            timed.last = Some((index_digest(&merged, "the merge")?, namespace, variants.took));
        }
        Ok(timed)
    }

    /// Whether the `merged` index (in `namespace`) equals the one-engine build's of the same commit
    /// (built untimed here), as the row says it: "equals", or which variants' digests differ.
    fn compare_with_one_engine(&self, namespace: &str, merged: &str) -> Result<String> {
        let copy = self.copy;
        self.xtask(copy, None, &["build"], namespace)?;
        let only_image = plan::Options { images: vec![self.image.name.clone()], ..Default::default() };
        let out_dir = plan::load(self.sh, &only_image)?.out_dir;
        let record = std::fs::read_to_string(copy.join(&out_dir).join("build-record.json"))?;
        let built: BuildRecord = serde_json::from_str(&record).context("the one-engine build's record")?;
        let built = built.images.first().context("the one-engine build's record lists no image")?;
        let same = built.index_digest == merged;
        // Where not: the variants whose digests are not the one-engine build's.
        #[derive(serde::Deserialize)]
        struct Variant {
            platform: String,
            digest: String,
        }
        let variants: Vec<Variant> =
            serde_json::from_str(&std::fs::read_to_string(copy.join(&out_dir).join("merge/variants.json"))?)
                .context("the merge's variants.json")?;
        let differing: Vec<String> = variants
            .iter()
            .filter(|v| !built.platforms.iter().any(|p| p.platform == v.platform && p.digest == v.digest))
            .map(|v| format!("{} {}", v.platform, v.digest))
            .collect();
        Ok(match same {
            true => "equals".to_owned(),
            false => format!("DIFFERS FROM (variant {} not the one-engine build's)", differing.join(", ")),
        })
    }

    /// The variants at once: the first platform here, the other on the second engine in the second
    /// runner's checkout (with `only`, that one alone). Output goes to files beside each variant.
    fn variants(&self, namespace: &str, only: Option<&str>) -> Result<Variants> {
        let platforms = &self.image.platforms;
        let runners = [(self.copy, None, &platforms[0]), (self.runner2, Some(self.second), &platforms[1])];
        let started = Instant::now();
        let mut children = Vec::new();
        for (dir, engine, platform) in runners.into_iter().filter(|r| only.is_none_or(|p| p == r.2)) {
            let log = dir.join(format!("target/xtask/bench-variant-{}.log", matrix::slug(platform)));
            std::fs::create_dir_all(log.parent().context("a log without a directory")?)?;
            let args = ["release", "--execute", "--platform", platform.as_str()];
            let job = {
                let _in_dir = self.sh.push_dir(dir);
                self.command(engine, &args, namespace)?.job(self.sh)
            };
            children.push((job.start_to_log(&log)?, log, dir, platform, None));
        }
        while children.iter().any(|c| c.4.is_none()) {
            for (child, log, _, platform, done) in children.iter_mut().filter(|c| c.4.is_none()) {
                if let Some(status) = child.try_wait()? {
                    if !status.success() {
                        let text = std::fs::read_to_string(&*log).unwrap_or_default();
                        let tail: Vec<&str> =
                            text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
                        bail!("the {platform} variant failed ({status}), log {}:\n{}", log.display(), tail.join("\n"));
                    }
                    *done = Some(started.elapsed());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let plan = plan::load(self.sh, &plan::Options { images: vec![self.image.name.clone()], ..Default::default() })?;
        let mut variants = Variants { dirs: Vec::new(), took: Vec::new() };
        for (_, _, dir, platform, done) in children {
            variants.dirs.push(dir.join(fanout::variant_plan(&plan, platform)?.out_dir).join(variant::DIR));
            variants.took.push(done.context("a variant without a time")?);
        }
        Ok(variants)
    }
}

/// `docker save IMAGE | docker --host SECOND load`: an image of this engine, by digest, there.
fn copy_image(sh: &Shell, image: &str, second: &str) -> Result<()> {
    if let Err(said) = engine::copy_image(sh, image, second)? {
        bail!("cannot copy {image} to the second engine {second}: {said}");
    }
    Ok(())
}

/// The index digest of a release record `--json` printed.
fn index_digest(json: &str, what: &str) -> Result<String> {
    let record: ReleaseRecord =
        serde_json::from_str(json).with_context(|| format!("{what} printed no release record"))?;
    let image = record.images.into_iter().next();
    Ok(image.with_context(|| format!("{what}: no image in its record"))?.index_digest)
}
