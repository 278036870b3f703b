//! `cargo xtask release`: the whole publish path as the plan's fixed, ordered list of steps —
//! preflight → build → smoke → scan → push-versioned → verify → sign → push-floating → record.
//! A dry run by default (the plan, then preflight; nothing built, pushed or written); `--execute`
//! runs every step. Each step takes what earlier steps returned; none re-derives a decision.

use std::collections::BTreeMap;
use std::fs::File;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::commands::{local, plan, retract, summary};
use crate::console;
use crate::rules::plan::{Plan, Step};
use crate::rules::plan_text;
use crate::steps::build::{self, Settings};
use crate::steps::build_record::BuildRecord;
use crate::steps::preflight::{self, Checks, Cleared};
use crate::steps::publish::{self, Published};
use crate::steps::scan::{self, ScanSummary};
use crate::steps::sign::{self, Signed};
use crate::steps::{record, smoke};
use crate::tools::flock;
use crate::tools::retry;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    #[command(flatten)]
    pub plan: plan::Options,
    /// Run the release. Without it: print the plan and run preflight only (nothing is built or pushed).
    #[arg(long)]
    pub execute: bool,
    /// Release to a registry on this machine instead: start `registry:2` on 127.0.0.1 (left running)
    /// and a throwaway signing key under target/xtask/local/, release every image there, and print
    /// the `docker run` and `cosign verify` lines for the result. Sends no credentials.
    #[arg(long, requires = "execute", conflicts_with_all = ["registry", "git_ref"])]
    pub local: bool,
    /// The buildx builder to build with instead of the current one: a docker context of a second
    /// engine, or a remote or multi-node BuildKit.
    #[arg(long, value_name = "NAME")]
    pub builder: Option<String>,
    #[command(flatten)]
    pub scan: plan::ScanOverrides,
    /// Print the release record (JSON) on stdout when the release completes.
    #[arg(long)]
    pub json: bool,
}

/// What `release` does besides releasing.
#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Withdraw a released version: move its floating tags back, attest the retraction, tag it
    /// retracted/vX.Y.Z (dry run without --execute).
    Retract(retract::Args),
    /// Merge the release records of per-image release jobs into one summary; fails naming the
    /// images that did not publish.
    Summary(summary::Args),
}

/// What the steps have produced so far.
#[derive(Default)]
struct Outputs<'a> {
    cleared: Option<Cleared<'a>>,
    record: Option<BuildRecord>,
    scan: Option<ScanSummary>,
    published: BTreeMap<String, Published>,
    signed: Vec<Signed>,
    timings: Vec<(String, f64)>,
}

/// How the pipeline runs, beyond what the plan decides.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    pub execute: bool,
    pub builder: Option<String>,
    /// A rehearsal against a throwaway registry (`cargo xtask ci`): uncommitted changes and any
    /// branch are allowed, since nothing reaches a real registry.
    pub rehearsal: bool,
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    match args.action {
        Some(Action::Retract(retraction)) => return retract::run(sh, retraction),
        Some(Action::Summary(summary)) => return summary::run(sh, summary),
        None => {}
    }
    if args.local {
        return local::run(sh, &args.plan.images, args.builder, &args.scan, args.json);
    }
    let plan = plan::load_with(sh, &args.plan, &args.scan)?;
    let pipeline = Pipeline { execute: args.execute, builder: args.builder.clone(), rehearsal: false };
    publish(sh, &plan, &pipeline)?;
    if !pipeline.execute {
        eprintln!(
            "dry run: preflight passed; nothing was built or pushed. Run `cargo xtask release --execute` to release."
        );
    } else if args.json {
        let path = sh.current_dir().join(&plan.out_dir).join(record::FILE);
        print!("{}", std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?);
    }
    Ok(())
}

/// Runs the plan's steps in order (only preflight when not executing) and returns their timings.
pub fn publish(sh: &Shell, plan: &Plan, pipeline: &Pipeline) -> Result<Vec<(String, f64)>> {
    let _lock = lock(sh, plan)?;
    if !console::quiet() {
        eprint!("{}", plan_text::render(plan));
    }
    let steps: &[Step] = if pipeline.execute { &plan.steps } else { &[Step::Preflight] };
    let mut outputs = Outputs::default();
    for &next in steps {
        let started = Instant::now();
        console::run(next.name(), || run_step(sh, plan, pipeline, next, &mut outputs))?;
        outputs.timings.push((next.name().to_owned(), started.elapsed().as_secs_f64()));
    }
    Ok(outputs.timings)
}

fn run_step<'a>(sh: &'a Shell, plan: &Plan, pipeline: &Pipeline, next: Step, out: &mut Outputs<'a>) -> Result<()> {
    let root = sh.current_dir();
    match next {
        Step::Preflight => {
            let checks = Checks { rehearsal: pipeline.rehearsal, building: true, builder: pipeline.builder.as_deref() };
            out.cleared = Some(preflight::run(sh, plan, &checks)?)
        }
        Step::Build => {
            let settings = Settings { builder: pipeline.builder.clone(), ..Default::default() };
            out.record = Some(build::build_all(sh, plan, &settings)?);
        }
        Step::Smoke => smoke::run_all(sh, plan, earlier(&out.record, "build")?)?,
        Step::Scan => {
            let db = earlier(&out.cleared, "preflight")?.db.as_ref();
            out.scan = Some(scan::scan(sh, plan, earlier(&out.record, "build")?, db)?);
        }
        Step::PushVersioned => {
            let transports = &earlier(&out.cleared, "preflight")?.transports;
            out.published = publish::push_versioned(sh, transports, plan, earlier(&out.record, "build")?)?;
        }
        Step::Verify => {
            let transports = &earlier(&out.cleared, "preflight")?.transports;
            publish::verify(sh, transports, plan, earlier(&out.record, "build")?)?;
        }
        Step::Sign => {
            let signer = earlier(&out.cleared, "preflight")?.signer.as_ref();
            let signer = signer.context("signing is enabled but preflight found no signer")?;
            let (record, scan) = (earlier(&out.record, "build")?, earlier(&out.scan, "scan")?);
            out.signed = sign::sign_all(signer, plan, record, scan, &root.join(&plan.out_dir))?;
        }
        Step::PushFloating => {
            let transports = &earlier(&out.cleared, "preflight")?.transports;
            publish::push_floating(sh, transports, plan, earlier(&out.record, "build")?, &mut out.published)?;
        }
        Step::Record => {
            let (record, scan) = (earlier(&out.record, "build")?, earlier(&out.scan, "scan")?);
            let mut release = record::assemble(plan, record, scan, &out.published, &out.signed, out.timings.clone());
            release.retries = retry::counts();
            let path = record::write(&root.join(&plan.out_dir), &release)?;
            eprint!("{}", record::summary_markdown(&release));
            eprintln!("release record: {}", path.display());
            if console::github_actions() {
                record::github_outputs(&release, &path)?;
            }
        }
    }
    Ok(())
}

fn earlier<'o, T>(output: &'o Option<T>, step: &str) -> Result<&'o T> {
    output.as_ref().with_context(|| format!("the plan runs this step before `{step}`, which it depends on"))
}

/// One release of an image at a time per workspace: a second release (or retraction) of an image
/// refuses instead of racing the first, while releases of other images (`--image`, each with its
/// own `out_dir`) go ahead side by side. Held until the returned files are dropped.
pub fn lock(sh: &Shell, plan: &Plan) -> Result<Vec<File>> {
    let dir = sh.current_dir().join("target/xtask/locks");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut names: Vec<&str> = plan.images.iter().map(|i| i.name.as_str()).collect();
    names.sort_unstable();
    let mut held = Vec::new();
    for name in names {
        let path = dir.join(format!("{name}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let locked = flock::try_lock_exclusive(&file).with_context(|| format!("cannot lock {}", path.display()))?;
        if !locked {
            bail!(
                "another `cargo xtask release` of image {name} is running in this workspace (it holds {}): \
                 wait for it to finish, then run again",
                path.display()
            );
        }
        held.push(file);
    }
    Ok(held)
}
