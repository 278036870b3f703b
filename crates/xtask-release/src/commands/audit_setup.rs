//! What `audit` and `release notes` both gather before reading a release back: the flags they
//! share, each released crate's live versions (released, not retracted: git's `v*` and
//! `retracted/v*` tags) and the plan of its newest release (repositories, policy, signing), how
//! each registry is reached and logged in to (read-only), the verifier of the release's
//! attestations, and the vulnerability DB (`max-db-age` enforced, its identity printed).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use semver::Version;
use xshell::Shell;

use crate::commands::plan;
use crate::rules::config::Scanner;
use crate::rules::credentials;
use crate::rules::plan::Plan;
use crate::rules::reference::Repository;
use crate::rules::retract;
use crate::rules::signing::{Identity, Mode as SigningMode, Signers};
use crate::rules::transport::Transports;
use crate::rules::versioning::{Mode, TagPattern};
use crate::steps::vulndb::{self, VulnDb};
use crate::tools::cosign::Signer;
use crate::tools::registry::Session;
use crate::tools::{secrets, toolset, transport};

/// The flags `audit` and `release notes` share with the other commands.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Common {
    /// Read the releases in HOST[:PORT]/NAMESPACE instead of each repository's registry and
    /// namespace, keeping the image name, as they were pushed (e.g. localhost:5000/acme). Default:
    /// $XTASK_REGISTRY.
    #[arg(long, value_name = "HOST[:PORT]/NAMESPACE")]
    pub registry: Option<String>,
    /// Only this image (repeatable; default: every configured image).
    #[arg(long = "image", value_name = "NAME")]
    pub images: Vec<String>,
    #[command(flatten)]
    pub scan: plan::ScanOverrides,
    /// The cosign public key the releases were signed with (key mode). Default: derived from
    /// $COSIGN_PRIVATE_KEY when set; else, under GitHub Actions, this repository's workflow identity
    /// (keyless).
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
}

/// One released crate (all of them in lockstep): its live versions and the plan of the newest.
pub struct Subject {
    pub live: Vec<Version>,
    pub plan: Plan,
}

pub struct Setup<'a> {
    pub subjects: Vec<Subject>,
    pub transports: Transports,
    pub _session: Session<'a>,
    pub signer: Option<Signer<'a>>,
    pub public_key: PathBuf,
    pub out: PathBuf,
}

impl<'a> Setup<'a> {
    pub fn open(sh: &'a Shell, common: &Common) -> Result<Setup<'a>> {
        let options =
            plan::Options { registry: common.registry.clone(), images: common.images.clone(), ..Default::default() };
        let inputs = plan::inputs(sh, &options, &common.scan)?;
        let packages: Vec<String> = match inputs.versioning.mode {
            Mode::Lockstep => vec![String::new()],
            Mode::Independent => inputs.versioning.packages.keys().cloned().collect(),
        };
        let mut subjects = Vec::new();
        for package in packages {
            let of = (&inputs.versioning, package.as_str());
            let (released, retracted) = retract::versions_of(of, &inputs.git.release_tags, &inputs.git.retracted_tags);
            let live: Vec<Version> = released.into_iter().filter(|v| !retracted.contains(v)).collect();
            let Some(newest) = live.iter().max() else { continue };
            let plan = retract::release_plan_of(&inputs, &package, newest)?;
            if !plan.images.is_empty() {
                subjects.push(Subject { live, plan });
            }
        }
        let Some(first) = subjects.first() else {
            bail!("nothing is released yet: no live release tag (v*, not retracted) names a version; fetch the tags (`git fetch --tags`) or release first")
        };
        let out = sh.current_dir().join(&first.plan.out_dir);
        std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
        let mut registries: Vec<String> = Vec::new();
        let mut transports = Transports::default();
        for repository in subjects.iter().flat_map(|s| s.plan.images.iter().flat_map(|i| &i.repositories)) {
            let host = Repository::parse(repository)?.registry.to_owned();
            if !registries.contains(&host) {
                let access = transport::access(&host, &first.plan.insecure_registries)
                    .with_context(|| format!("cannot reach the registry {host} of {repository}"))?;
                transports.insert(&host, access.transport);
                registries.push(host);
            }
        }
        // Read-only: log in only where credentials are set; public repositories are read anonymously.
        let mut with_credentials = Vec::new();
        let overridden = first.plan.registry_override.is_some();
        for registry in &registries {
            if credentials::for_registry(registry, overridden, secrets::lookup(sh))?.is_some() {
                with_credentials.push(registry.clone());
            }
        }
        let session = Session::open(sh, &with_credentials, overridden)
            .with_context(|| format!("cannot log in to {} to read the releases", with_credentials.join(", ")))?;
        let public_key = common.public_key.clone().unwrap_or_else(|| out.join("cosign.pub"));
        let signing = &first.plan.signing;
        let signer = if !signing.enabled {
            eprintln!("    note: signing is disabled: there are no attestations, every image is scanned by digest");
            None
        } else {
            let releases = (first.plan.versioning.tag_pattern, inputs.config.edge_branch.as_str());
            let mode = verify_mode(sh, common.public_key.as_deref(), releases)?;
            let format = toolset::probe(sh)?.signature_format();
            let signer = Signer {
                sh,
                mode,
                tlog_upload: signing.tlog_upload,
                transports: transports.clone(),
                format,
                offline_config: None,
                public_key: Default::default(),
            };
            if common.public_key.is_none() {
                signer.write_public_key(&public_key)?;
            }
            Some(signer)
        };
        Ok(Setup { subjects, transports, _session: session, signer, public_key, out })
    }

    /// The DB every release is judged by today; `None` when the policy runs no vuln scanner.
    pub fn db(&self, sh: &Shell) -> Result<Option<VulnDb>> {
        let plan = &self.subjects[0].plan;
        if !plan.scan.scanners.contains(&Scanner::Vuln) {
            eprintln!("    note: the policy runs no vuln scanner: no advisories are checked");
            return Ok(None);
        }
        vulndb::fetch(sh, plan)
    }

    pub fn verifier(&self) -> Option<(&Signer<'a>, &Path)> {
        self.signer.as_ref().map(|s| (s, self.public_key.as_path()))
    }
}

/// How the release's signatures are checked: with `--public-key`; with the key in
/// `COSIGN_PRIVATE_KEY`; or keyless under GitHub Actions, by the identity of this repository's
/// release workflow at a release tag (`releases`: the tag pattern and the edge branch).
fn verify_mode(sh: &Shell, public_key: Option<&Path>, releases: (TagPattern, &str)) -> Result<SigningMode> {
    if let Some(key) = public_key {
        if !key.is_file() {
            bail!("--public-key {}: no such file: pass the cosign.pub the releases were signed with", key.display());
        }
        return Ok(SigningMode::Key);
    }
    if secrets::get("COSIGN_PRIVATE_KEY").is_some_and(|k| !k.is_empty()) {
        return Ok(SigningMode::Key);
    }
    if let Ok(repository) = sh.var("GITHUB_REPOSITORY") {
        let (tag_pattern, edge_branch) = releases;
        let signers = Signers { repository, tag_pattern, edge_branch: edge_branch.to_owned() };
        return Ok(SigningMode::Keyless(Identity::Releases(signers)));
    }
    bail!(
        "cannot verify the releases' attestations: pass --public-key FILE (the cosign.pub of a key-signed release), \
         set COSIGN_PRIVATE_KEY, or run under GitHub Actions (keyless: this repository's workflow identity)"
    )
}
