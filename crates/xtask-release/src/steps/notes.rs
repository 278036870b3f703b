//! Release notes from the registry: two published releases of each image compared platform by
//! platform (`rules::sbom`, `rules::notes`), both read back with `steps::audit::Reader` and their
//! SBOMs judged by one DB. `release notes` runs it for any two versions; the record step of a
//! release runs it against the previous release of the line, best effort (a release never fails
//! for its notes: it warns and records none).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use semver::Version;
use xshell::Shell;

use crate::rules::audit;
use crate::rules::config::ScanPolicy;
use crate::rules::notes::{self, ImageNotes, PlatformNotes, Side};
use crate::rules::plan::{ImagePlan, Plan};
use crate::rules::sbom;
use crate::rules::transport::Transports;
use crate::rules::versioning::Mode;
use crate::steps::audit::{self as read, PlatformRead, Reader, TagRead};
use crate::steps::vulndb::VulnDb;
use crate::tools::cosign::Signer;
use crate::tools::git;

/// What both releases are judged by.
pub struct Judging<'a> {
    pub policy: &'a ScanPolicy,
    pub ignorefile: Option<&'a Path>,
    pub db: Option<&'a VulnDb>,
}

/// `image` at `from` and at `to`, in its first repository, compared.
pub fn compare(
    reader: &Reader<'_>,
    judging: &Judging<'_>,
    image: &ImagePlan,
    from: &Version,
    to: &Version,
) -> Result<ImageNotes> {
    let repository = image.repositories.first().with_context(|| format!("image {} has no repository", image.name))?;
    let fetch = |version: &Version| -> Result<TagRead> {
        reader.read(repository, &version.to_string(), true)?.with_context(|| {
            format!("{repository}:{version} is not in the registry: check --registry or XTASK_REGISTRY")
        })
    };
    let (old, new) = (fetch(from)?, fetch(to)?);
    let advisories = |tag: &TagRead| -> Result<Vec<String>> {
        let Some(db) = judging.db else { return Ok(Vec::new()) };
        let found = read::scan(reader.sh, judging.policy, judging.ignorefile, db, &tag.platforms)?;
        Ok(found.values().flatten().map(|f| f.id.clone()).collect())
    };
    let (fixed, introduced) = notes::advisories(&advisories(&old)?, &advisories(&new)?);
    Ok(ImageNotes {
        image: image.name.clone(),
        repository: repository.clone(),
        from: Side { version: from.to_string(), digest: old.digest.clone() },
        to: Side { version: to.to_string(), digest: new.digest.clone() },
        platforms: platforms(&old.platforms, &new.platforms, &image.package),
        advisories_fixed: fixed,
        advisories_introduced: introduced,
    })
}

/// The notes of a release that was just published, against the previous live release of its
/// line (`None`: the first release of the line, a pre-release, or the notes could not be made,
/// which is warned about).
pub fn for_release(
    sh: &Shell,
    plan: &Plan,
    transports: &Transports,
    signer: Option<&Signer<'_>>,
    db: Option<&VulnDb>,
) -> BTreeMap<String, ImageNotes> {
    let out = sh.current_dir().join(&plan.out_dir);
    let public_key = out.join("cosign.pub");
    let reader =
        Reader { sh, transports, verifier: signer.map(|s| (s, public_key.as_path())), scratch: out.join("notes") };
    let ignorefile = Some(sh.current_dir().join(&plan.scan.ignorefile)).filter(|f| f.exists());
    let judging = Judging { policy: &plan.scan, ignorefile: ignorefile.as_deref(), db };
    let mut all = BTreeMap::new();
    let state = match git::state(sh) {
        Ok(state) => state,
        Err(error) => {
            eprintln!("    warning: no release notes: {error:#}");
            return all;
        }
    };
    for image in &plan.images {
        let package = if plan.versioning.mode == Mode::Independent { image.package.as_str() } else { "" };
        let versions = |tags: &[String], prefix: &str| -> Vec<Version> {
            tags.iter()
                .filter_map(|t| t.strip_prefix(prefix))
                .filter_map(|t| plan.versioning.tag_pattern.version_of(package, t))
                .collect()
        };
        let retracted = versions(&state.retracted_tags, "retracted/");
        let live: Vec<Version> =
            versions(&state.release_tags, "").into_iter().filter(|v| !retracted.contains(v)).collect();
        let Some(previous) = audit::previous(&image.version, &live) else { continue };
        match compare(&reader, &judging, image, &previous, &image.version) {
            Ok(notes) => {
                all.insert(image.name.clone(), notes);
            }
            Err(error) => eprintln!("    warning: no release notes for {} against {previous}: {error:#}", image.name),
        }
    }
    all
}

fn provenance(p: Option<&PlatformRead>) -> Option<&sbom::Provenance> {
    p.and_then(|p| p.provenance.as_ref())
}

/// Each platform of either release, compared.
fn platforms(old: &[PlatformRead], new: &[PlatformRead], own: &str) -> Vec<PlatformNotes> {
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
            let packages = |p: Option<&PlatformRead>| {
                p.map(|p| sbom::dependencies(sbom::packages(&p.sbom), own)).unwrap_or_default()
            };
            PlatformNotes {
                platform: platform.to_owned(),
                from_digest: a.map(|p| p.digest.clone()),
                to_digest: b.map(|p| p.digest.clone()),
                packages: sbom::diff(&packages(a), &packages(b)),
                base_from: provenance(a).map(sbom::base_images).unwrap_or_default(),
                base_to: provenance(b).map(sbom::base_images).unwrap_or_default(),
                toolchain_from: provenance(a).map(sbom::toolchain),
                toolchain_to: provenance(b).map(sbom::toolchain),
                size_from: a.and_then(|p| p.size),
                size_to: b.and_then(|p| p.size),
            }
        })
        .collect()
}
