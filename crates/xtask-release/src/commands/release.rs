//! `cargo xtask release`: a dry run by default (the plan, then preflight; nothing built, pushed or
//! written); `--execute` runs the whole publish path (`commands::pipeline`), `--local` runs it
//! against a registry on this machine (`commands::local`); `--platform` builds one variant for
//! `release merge` (`rules::fanout`); `release retract`, `release summary`, `release merge`,
//! `release notes`, `release bundle` and `release import` are its subcommands.

use anyhow::{Context, Result};
use xshell::Shell;

use crate::commands::pipeline::{publish, Pipeline};
use crate::commands::{bundle, import, local, merge, notes, plan, retract, summary};
use crate::rules::fanout;
use crate::steps::{record, variant};

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
    /// Build every image even where nothing it is built from changed since its last recorded build
    /// (by default such an image's recorded build is reused).
    #[arg(long)]
    pub rebuild: bool,
    /// Build, smoke-test and scan this one platform of the one --image, push it by digest only (no
    /// tag) and write its variant record, for `release merge` on another runner.
    #[arg(long, value_name = "OS/ARCH", requires = "images", conflicts_with = "local")]
    pub platform: Option<String>,
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
    /// Merge the variants built one platform per runner (`--platform`) into one index, exactly as a
    /// one-engine build makes it, then tag, verify, sign and record it; refuses (tagging nothing)
    /// unless every platform has a passing variant of this commit.
    Merge(merge::Args),
    /// What changed inside the images between two published releases, from their SBOMs: crates
    /// added, removed, upgraded; base, toolchain, sizes; advisories fixed and introduced.
    Notes(notes::Args),
    /// Write a released version, its signatures and attestations into one OCI layout (a tar) for an
    /// air-gapped network; every digest kept.
    Bundle(bundle::Args),
    /// Push a bundle into another registry (--registry), every digest kept, with no need of the
    /// registry it came from; a tag that points elsewhere is refused.
    Import(import::Args),
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    match args.action {
        Some(Action::Retract(retraction)) => return retract::run(sh, retraction),
        Some(Action::Summary(summary)) => return summary::run(sh, summary),
        Some(Action::Merge(merge)) => return merge::run(sh, merge),
        Some(Action::Notes(notes)) => return notes::run(sh, notes),
        Some(Action::Bundle(args)) => return bundle::run(sh, args),
        Some(Action::Import(args)) => return import::run(sh, args),
        None => {}
    }
    if args.local {
        return local::run(sh, &args.plan.images, (args.builder, args.rebuild), &args.scan, args.json);
    }
    let mut plan = plan::load_with(sh, &args.plan, &args.scan)?;
    if let Some(platform) = &args.platform {
        plan = fanout::variant_plan(&plan, platform)?;
    }
    let pipeline =
        Pipeline { execute: args.execute, builder: args.builder.clone(), rebuild: args.rebuild, ..Default::default() };
    publish(sh, &plan, &pipeline)?;
    if !pipeline.execute {
        eprintln!(
            "dry run: preflight passed; nothing was built or pushed. Run `cargo xtask release --execute` to release."
        );
    } else if args.json {
        let file = if args.platform.is_some() {
            format!("{}/{}", variant::DIR, variant::FILE)
        } else {
            record::FILE.to_owned()
        };
        let path = sh.current_dir().join(&plan.out_dir).join(file);
        print!("{}", std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?);
    }
    Ok(())
}
