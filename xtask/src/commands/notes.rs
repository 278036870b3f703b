//! `cargo xtask release notes [VERSION]`: what changed inside the images between two published
//! releases, read from the registry (each platform's signed SBOM and provenance attestations), so
//! it works from a fresh runner for any two versions: per image and platform, the crates added,
//! removed and upgraded, the toolchain and base change, the image size, the advisories fixed and
//! introduced (today's DB judging both), and the digests compared. Markdown, or `--json`.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use semver::Version;
use xshell::Shell;

use crate::commands::audit_setup::{Common, Setup};
use crate::console;
use crate::rules::audit;
use crate::rules::notes::{self, ImageNotes, Notes, PlatformNotes, Side};
use crate::rules::sbom;
use crate::steps::audit::{self as steps, PlatformRead, Reader, TagRead};
use crate::steps::record;
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
    let root = sh.current_dir();
    let ignorefile = Some(root.join(&plan.scan.ignorefile)).filter(|f| f.exists());
    let reader =
        Reader { sh, transports: &setup.transports, verifier: setup.verifier(), scratch: setup.out.join("notes") };
    let mut images = Vec::new();
    console::run("compare", || {
        for image in &plan.images {
            let Some(repository) = image.repositories.first() else { continue };
            let read = |version: &Version| -> Result<TagRead> {
                reader.read(repository, &version.to_string(), true)?.with_context(|| {
                    format!("{repository}:{version} is not in the registry: check --registry or XTASK_REGISTRY")
                })
            };
            let (old, new) = (read(&from)?, read(&to)?);
            let advisories = |tag: &TagRead| -> Result<Vec<String>> {
                let Some(db) = db.as_ref() else { return Ok(Vec::new()) };
                let found = steps::scan(sh, &plan.scan, ignorefile.as_deref(), db, &tag.platforms)?;
                Ok(found.values().flatten().map(|f| f.id.clone()).collect())
            };
            let (fixed, introduced) = notes::advisories(&advisories(&old)?, &advisories(&new)?);
            images.push(ImageNotes {
                image: image.name.clone(),
                repository: repository.clone(),
                from: Side { version: from.to_string(), digest: old.digest.clone() },
                to: Side { version: to.to_string(), digest: new.digest.clone() },
                platforms: platforms(&old.platforms, &new.platforms),
                advisories_fixed: fixed,
                advisories_introduced: introduced,
            });
        }
        Ok(())
    })?;
    let notes = Notes { schema_version: 1, from: from.to_string(), to: to.to_string(), images };
    let markdown = notes::markdown(&notes);
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

fn provenance(p: Option<&PlatformRead>) -> Option<&serde_json::Value> {
    p.and_then(|p| p.provenance.as_ref())
}

/// Each platform of either release, compared.
fn platforms(old: &[PlatformRead], new: &[PlatformRead]) -> Vec<PlatformNotes> {
    let mut names: BTreeMap<&str, (Option<&PlatformRead>, Option<&PlatformRead>)> = BTreeMap::new();
    for p in old {
        names.entry(&p.platform).or_default().0 = Some(p);
    }
    for p in new {
        names.entry(&p.platform).or_default().1 = Some(p);
    }
    names
        .into_iter()
        .map(|(platform, (a, b))| {
            let packages = |p: Option<&PlatformRead>| p.map(|p| sbom::packages(&p.sbom)).unwrap_or_default();
            PlatformNotes {
                platform: platform.to_owned(),
                from_digest: a.map(|p| p.digest.clone()),
                to_digest: b.map(|p| p.digest.clone()),
                packages: sbom::diff(&packages(a), &packages(b)),
                base_from: provenance(a).map(sbom::base_images).unwrap_or_default(),
                base_to: provenance(b).map(sbom::base_images).unwrap_or_default(),
                toolchain_from: provenance(a).map(sbom::toolchain),
                toolchain_to: provenance(b).map(sbom::toolchain),
                size_from: a.and_then(|p| sbom::image_size(&p.sbom)),
                size_to: b.and_then(|p| sbom::image_size(&p.sbom)),
            }
        })
        .collect()
}
