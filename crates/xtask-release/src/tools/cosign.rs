//! Signing with cosign: a key from the environment (`COSIGN_PRIVATE_KEY`, read by cosign itself via
//! `env://`, and `COSIGN_PASSWORD`; withheld from every other child, `tools::secrets`, and given
//! only to the cosign commands that open the key), or keyless with GitHub Actions' OIDC token (its
//! request token given only to `sign` and `attest`; the mode and its
//! rules: `rules::signing`). Signs each pushed index digest and its platform manifests, attests
//! SBOM and provenance per platform, and verifies all of it from the registry. Keys and passwords never reach argv. A registry whose transport is
//! plain HTTP gets cosign's flags for it; every other registry keeps TLS with verification.
//!
//! Every cosign run is one attempt of the one retry loop (`tools::retry`), judged by the one table
//! (`rules::retry::MESSAGES`), and by what the registry lists where cosign 3 hides a failure
//! (`verify.rs`); nothing here repeats a run by itself.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use xshell::{cmd, Shell};

use crate::rules::cosign_output::Tree;
use crate::rules::retry::{self as rules_retry, Attempted};
use crate::rules::signing;
pub use crate::rules::signing::{mode, Mode};
pub use crate::rules::toolset::SignatureFormat;
use crate::rules::transport::{self, Transports};
use crate::tools::files::{self, Access};
use crate::tools::{retry, secrets};

mod attestation;
mod verify;

const KEY_REF: &str = "env://COSIGN_PRIVATE_KEY";

/// Makes a cosign key pair, `cosign.key` and `cosign.pub` in `dir`, the private key encrypted with
/// `password` (given to cosign in its environment, never on the command line).
pub fn generate_key_pair(sh: &Shell, dir: &Path, password: &str) -> Result<()> {
    let _in_dir = sh.push_dir(dir);
    cmd!(sh, "cosign generate-key-pair")
        .env("COSIGN_PASSWORD", password)
        .stdin("")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .context("cosign could not make a key pair (`cosign generate-key-pair`): is cosign installed? (`cargo xtask doctor`)")
}

/// Whether `url` answers an HTTPS GET with a success within seconds (`curl`, short timeouts: an
/// unreachable service fails fast, never hangs); what went wrong otherwise. Preflight asks the
/// Sigstore services signing will reach (`rules::sigstore`).
pub fn answers(sh: &Shell, url: &str) -> std::result::Result<(), String> {
    let output = cmd!(
        sh,
        "curl --silent --show-error --fail --location --output /dev/null --connect-timeout 3 --max-time 8 {url}"
    )
    .quiet()
    .stdin("")
    .ignore_status()
    .output()
    .map_err(|e| format!("cannot run curl ({e}): install curl"))?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    Err(said.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("no answer").to_owned())
}

pub struct Signer<'a> {
    pub sh: &'a Shell,
    pub mode: Mode,
    pub tlog_upload: bool,
    pub transports: Transports,
    /// What the installed cosign writes (its major version, from the capability probe): every
    /// cosign-version-dependent flag is chosen here, from it.
    pub format: SignatureFormat,
    /// cosign 3, signing offline: a signing config that names no service (no transparency log,
    /// no timestamp authority), written by `prepare`.
    pub offline_config: Option<std::path::PathBuf>,
    /// The public key, once `prepare` has opened the private one (key mode).
    pub public_key: std::cell::OnceCell<String>,
}

/// Where cosign 3 stored the signature or attestations (`sig`/`att`) of `image`, from its `tree`.
pub fn stored_in(tree: &Tree, image: &str, kind: &str) -> Result<String> {
    let referrers = tree.bundle_referrers(kind == "att");
    if referrers.is_empty() {
        let what = if kind == "att" { "attestation" } else { "signature" };
        bail!("cosign tree lists no {what} referring to {image}");
    }
    Ok(referrers.join(", "))
}

/// A signer without its shell (`Shell` is not `Sync`): each thread of a parallel check makes its
/// own `Signer` from it on its own copy of the shell.
pub struct Detached(Mode, bool, Transports, SignatureFormat, Option<std::path::PathBuf>);

impl Detached {
    pub fn on<'b>(&self, sh: &'b Shell) -> Signer<'b> {
        let Detached(mode, tlog_upload, transports, format, offline_config) = self;
        Signer {
            sh,
            mode: mode.clone(),
            tlog_upload: *tlog_upload,
            transports: transports.clone(),
            format: *format,
            offline_config: offline_config.clone(),
            public_key: Default::default(),
        }
    }
}

/// The signing config file of an offline cosign 3 (in the release's output directory).
pub const OFFLINE_SIGNING_CONFIG: &str = "cosign-signing-config.json";

impl Signer<'_> {
    pub fn detach(&self) -> Detached {
        Detached(self.mode.clone(), self.tlog_upload, self.transports.clone(), self.format, self.offline_config.clone())
    }

    /// cosign's plain-HTTP flags for `image`'s registry, if its transport is plain HTTP. cosign
    /// (v2, here) honours `--allow-http-registry` in sign, attest, triangulate and
    /// verify-attestation, but `verify` reaches the registry over HTTPS unless it also gets
    /// `--allow-insecure-registry` (which would also skip TLS verification: harmless only for a
    /// registry that speaks no TLS, the one case it is passed).
    fn http_args(&self, image: &str, verify: bool) -> Vec<String> {
        signing::http_options(self.transports.plain_http(image), verify)
    }

    /// How the signature is made and stored, by cosign version:
    /// - cosign 2 writes the legacy `.sig`/`.att` tags; `--tlog-upload` says whether Rekor gets it.
    /// - cosign 3 writes a Sigstore bundle as an OCI referrer (the referrers tag schema where the
    ///   registry has no referrers API) and takes its services from a signing config: the public
    ///   one from TUF by default (`--use-signing-config`), or, offline, one naming no service
    ///   (`--tlog-upload=false` is refused next to a signing config).
    fn key_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        match (&self.format, &self.offline_config) {
            (SignatureFormat::LegacyTags, _) => args.push(format!("--tlog-upload={}", self.tlog_upload)),
            (SignatureFormat::SigstoreBundle, Some(config)) => {
                args.extend(["--signing-config".into(), config.display().to_string()])
            }
            (SignatureFormat::SigstoreBundle, None) => {}
        }
        if self.mode == Mode::Key {
            args.extend(["--key".into(), KEY_REF.into()]);
        }
        args
    }

    /// The cosign this signer runs, as its errors name it: the major version its output is read by.
    fn tool(&self) -> &'static str {
        match self.format {
            SignatureFormat::LegacyTags => "cosign 2",
            SignatureFormat::SigstoreBundle => "cosign 3",
        }
    }

    fn verify_args(&self, public_key: &Path) -> Vec<String> {
        signing::verify_options(&self.mode, self.tlog_upload, &public_key.display().to_string())
    }

    /// Before anything is built: opens the key (key mode; a wrong password fails here) and, for an
    /// offline cosign 3, writes the signing config without services into `out`.
    pub fn prepare(&mut self, out: &Path) -> Result<()> {
        self.open_public_key()?;
        if self.format == SignatureFormat::SigstoreBundle && !self.tlog_upload {
            std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
            let config = out.join(OFFLINE_SIGNING_CONFIG);
            cmd!(self.sh, "cosign signing-config create --out {config}")
                .quiet()
                .stdin("")
                .ignore_stdout()
                .run()
                .context("cosign could not write an offline signing config (`cosign signing-config create`)")?;
            self.offline_config = Some(config);
        }
        Ok(())
    }

    fn open_public_key(&self) -> Result<String> {
        if self.mode != Mode::Key {
            return Ok(String::new());
        }
        if let Some(key) = self.public_key.get() {
            return Ok(key.clone());
        }
        let key = cmd!(self.sh, "cosign public-key --key {KEY_REF}")
            .envs(self.secrets_for("public-key"))
            .quiet()
            .stdin("")
            .ignore_stderr()
            .read()
            .context("cosign could not open COSIGN_PRIVATE_KEY: check the key and COSIGN_PASSWORD")?;
        Ok(self.public_key.get_or_init(|| key).clone())
    }

    /// Writes the public key that verifies this release's signatures (key mode) to `out`.
    pub fn write_public_key(&self, out: &Path) -> Result<()> {
        if self.mode != Mode::Key {
            return Ok(());
        }
        files::write(out, (self.open_public_key()? + "\n").as_bytes(), Access::Public)
    }

    /// Signs `image` (`repo@digest`) and, for an index, every manifest in it: one cosign run under
    /// the retry policy (a signature repeated after a transient failure verifies like the first).
    pub fn sign(&self, image: &str) -> Result<()> {
        let mut args = vec!["sign".into(), "--yes".into(), "--recursive".into()];
        args.extend(self.key_args().into_iter().chain(self.http_args(image, false)));
        self.cosign(args, image).map(drop).with_context(|| format!("cosign could not sign {image}"))
    }

    /// Attests `image` with `predicate` of `predicate_type`: one cosign run under the retry
    /// policy, as [`Signer::sign`].
    pub fn attest(&self, image: &str, predicate_type: &str, predicate: &Path) -> Result<()> {
        let mut args = vec!["attest".into(), "--yes".into()];
        args.extend(self.key_args().into_iter().chain(self.http_args(image, false)));
        args.extend(["--type".into(), predicate_type.into(), "--predicate".into(), predicate.display().to_string()]);
        self.cosign(args, image)
            .map(drop)
            .with_context(|| format!("cosign could not attest {predicate_type} for {image}"))
    }

    /// Where cosign stored the signature or attestations (`sig`/`att`) of `image`: cosign 2's tag
    /// (`cosign triangulate`), or cosign 3's referrers of that kind (`cosign tree`), `repo@digest`
    /// each, comma-separated.
    pub fn stored(&self, image: &str, kind: &str) -> Result<String> {
        let what = if kind == "att" { "attestation" } else { "signature" };
        if self.format == SignatureFormat::SigstoreBundle {
            return stored_in(&self.tree(image)?, image, kind);
        }
        let mut args = vec!["triangulate".into(), "--type".into(), what.into()];
        args.extend(self.http_args(image, false));
        let output =
            self.cosign(args, image).with_context(|| format!("cosign could not find the {what} of {image}"))?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// What a verification's outcome depends on besides what the registry holds: the options, the
    /// public key's text (key mode) and the cosign that verifies.
    pub fn verifier(&self, public_key: &Path) -> String {
        let key = std::fs::read_to_string(public_key).unwrap_or_default();
        format!("{:?}\n{}\n{key}", self.format, self.verify_args(public_key).join(" "))
    }

    /// The secrets cosign's `subcommand` needs, for its own environment: the key and its password
    /// where it opens the key, GitHub's OIDC request token where it gets a keyless certificate.
    /// Every other cosign (verify, tree, triangulate) gets none.
    fn secrets_for(&self, subcommand: &str) -> Vec<(String, String)> {
        match (&self.mode, subcommand) {
            (Mode::Key, "public-key" | "sign" | "attest") => {
                secrets::env_for(&["COSIGN_PRIVATE_KEY", "COSIGN_PASSWORD"])
            }
            (Mode::Keyless(_), "sign" | "attest") => secrets::env_for(&["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]),
            _ => Vec::new(),
        }
    }

    /// Runs `cosign ARGS… IMAGE` under the retry policy (`tools::retry::retry`); its output if it
    /// succeeded, else an error with what it said. Repeating a signature or an attestation is
    /// harmless: it verifies the same.
    fn cosign(&self, args: Vec<String>, image: &str) -> Result<std::process::Output> {
        let operation = format!("cosign {} {image}", args[0]);
        retry::retry(&operation, transport::registry_of(image), || self.attempt(args.clone(), image))?
    }

    /// One run of `cosign ARGS… IMAGE`, judged by the one table (`rules::retry::MESSAGES`): its
    /// output if it succeeded, a transient failure, or an error with its last words.
    fn attempt(&self, args: Vec<String>, image: &str) -> Result<Attempted<Result<std::process::Output>>> {
        self.attempt_on(args, &[image])
    }

    /// One cosign run of `args` over `images` (cosign's verifications take several at once).
    fn attempt_on(&self, mut args: Vec<String>, images: &[&str]) -> Result<Attempted<Result<std::process::Output>>> {
        let secrets = self.secrets_for(&args[0]);
        args.extend(images.iter().map(|image| (*image).to_owned()));
        let output = cmd!(self.sh, "cosign {args...}")
            .envs(secrets)
            .quiet()
            .stdin("")
            .ignore_status()
            .output()
            .context("cannot run cosign")?;
        Ok(retry::judge(output).map(|output| {
            if output.status.success() {
                return Ok(output);
            }
            Err(anyhow!("{}", rules_retry::last_lines(&String::from_utf8_lossy(&output.stderr), 3)))
        }))
    }
}
