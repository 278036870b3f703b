//! `cargo xtask release notes [VERSION]`: what changed inside the images between two published
//! releases, read from the registry (each platform's signed SBOM and provenance attestations), so
//! it works from a fresh runner for any two versions: per image and platform, the crates added,
//! removed and upgraded, the toolchain and base change, the image size, the advisories fixed and
//! introduced (today's DB judging both), and the digests compared. Markdown, or `--json`; the
//! Markdown ends with the release's verification kit when this checkout made that release.

use anyhow::{bail, Context, Result};
use semver::Version;
use xshell::Shell;

use crate::commands::audit_setup::{Common, Setup};
use crate::console;
use crate::rules::audit;
use crate::rules::notes::{self, Notes};
use crate::steps::audit::Reader;
use crate::steps::notes::{self as steps, Judging};
use crate::steps::record;
use crate::steps::verify_kit;
use crate::steps::vulndb::VulnDb;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The release to describe (same as --to). Default: the newest live release.
    #[arg(value_name = "VERSION", conflicts_with = "to")]
    pub version: Option<String>,
    /// The release to compare with. Default: the previous stable release of the same line, the one
    /// the floating-tag rules compare with (X.Y's, else X's, else any older live release).
    #[arg(long, value_name = "X.Y.Z")]
    pub from: Option<String>,
    /// The release to describe. Default: the newest live release.
    #[arg(long, value_name = "X.Y.Z")]
    pub to: Option<String>,
    #[command(flatten)]
    pub common: Common,
    /// Print the notes as JSON instead of Markdown.
    #[arg(long)]
    pub json: bool,
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let setup = console::run("gather", || Setup::open(sh, &args.common))?;
    if setup.subjects.len() != 1 {
        bail!("versioning is independent: pass --image NAME so the notes compare one crate's releases");
    }
    let subject = &setup.subjects[0];
    let released = |text: &str, flag: &str| -> Result<Version> {
        let version = Version::parse(text.trim_start_matches('v'))
            .with_context(|| format!("{flag} {text}: not a version X.Y.Z"))?;
        if !subject.live.contains(&version) {
            let mut live: Vec<String> = subject.live.iter().map(Version::to_string).collect();
            live.sort();
            bail!("{flag} {text}: no live release has that version (released, not retracted: {})", live.join(", "));
        }
        Ok(version)
    };
    let to = match args.version.as_deref().or(args.to.as_deref()) {
        Some(text) => released(text, "--to")?,
        None => subject.live.iter().max().cloned().context("nothing is released")?,
    };
    let from = match (&args.from, audit::previous(&to, &subject.live)) {
        (Some(text), _) => released(text, "--from")?,
        (None, Some(previous)) => previous,
        (None, None) => {
            // The first release of its line: nothing to compare with, which is no error.
            let notes = Notes { schema_version: 1, from: String::new(), to: to.to_string(), images: Vec::new() };
            if args.json {
                println!("{}", serde_json::to_string_pretty(&notes)?);
            } else {
                println!("## {to}\n\nThe first release: there is no earlier live release to compare it with.");
            }
            return Ok(());
        }
    };
    let db = setup.db(sh)?;
    let plan = &subject.plan;
    let ignorefile = Some(sh.current_dir().join(&plan.scan.ignorefile)).filter(|f| f.exists());
    let judging = Judging { policy: &plan.scan, ignorefile: ignorefile.as_deref(), db: db.as_ref() };
    let reader =
        Reader { sh, transports: &setup.transports, verifier: setup.verifier(), scratch: setup.out.join("notes") };
    let mut images = Vec::new();
    console::run("compare", || {
        for image in &plan.images {
            images.push(steps::compare(&reader, &judging, image, &from, &to)?);
        }
        Ok(())
    })?;
    let notes = Notes { schema_version: 1, from: from.to_string(), to: to.to_string(), images };
    let mut markdown = notes::markdown(&notes);
    // The verification kit of the release these notes are for, when this checkout released it.
    if let Ok(kit) = std::fs::read_to_string(setup.out.join(verify_kit::DIR).join("README.md")) {
        if !notes.images.is_empty() && notes.images.iter().all(|i| kit.contains(&i.to.digest)) {
            markdown += &format!("\n#{kit}");
        }
    }
    record::write_json(&setup.out.join("release-notes.json"), &notes)?;
    std::fs::write(setup.out.join("release-notes.md"), &markdown)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&notes)?);
    } else {
        print!("{markdown}");
    }
    describe_db(db.as_ref());
    Ok(())
}

fn describe_db(db: Option<&VulnDb>) {
    if let Some(db) = db {
        eprintln!("advisories judged by {}@{} (UpdatedAt {})", db.repository, db.digest, db.updated_at);
    }
}
