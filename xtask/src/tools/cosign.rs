//! Signing with cosign: a key from the environment (`COSIGN_PRIVATE_KEY`, read by cosign itself via
//! `env://`, and `COSIGN_PASSWORD`), or keyless with GitHub Actions' OIDC token. Signs each pushed
//! index digest and its platform manifests, attests SBOM and provenance per platform, and verifies
//! all of it from the registry. Keys and passwords never reach argv. A registry whose transport is
//! plain HTTP gets cosign's flags for it; every other registry keeps TLS with verification.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::rules::transport::Transports;

const KEY_REF: &str = "env://COSIGN_PRIVATE_KEY";
const GITHUB_OIDC_ISSUER: &str = "https://token.actions.githubusercontent.com";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `COSIGN_PRIVATE_KEY` / `COSIGN_PASSWORD`; verified with the derived public key.
    Key,
    /// Fulcio certificate for this workflow's identity (`id-token: write`).
    Keyless { repository: String },
}

/// How to sign, from the environment (pure: takes a lookup).
pub fn mode(env: impl Fn(&str) -> Option<String>) -> Result<Mode> {
    if env("COSIGN_PRIVATE_KEY").is_some_and(|k| !k.is_empty()) {
        if env("COSIGN_PASSWORD").is_none() {
            bail!("COSIGN_PRIVATE_KEY is set but COSIGN_PASSWORD is not: set it (empty if the key has no password)");
        }
        return Ok(Mode::Key);
    }
    let on_actions = env("GITHUB_ACTIONS").as_deref() == Some("true");
    if on_actions && env("ACTIONS_ID_TOKEN_REQUEST_URL").is_some() {
        let repository = env("GITHUB_REPOSITORY").context("GITHUB_REPOSITORY is not set under GitHub Actions")?;
        return Ok(Mode::Keyless { repository });
    }
    bail!(
        "signing is enabled but there is no key: set COSIGN_PRIVATE_KEY and COSIGN_PASSWORD (`cosign generate-key-pair`), \
         run under GitHub Actions with `permissions: id-token: write` for keyless signing, \
         or set enabled = false in [workspace.metadata.xtask.signing]"
    )
}

pub struct Signer<'a> {
    pub sh: &'a Shell,
    pub mode: Mode,
    pub tlog_upload: bool,
    pub transports: Transports,
}

impl Signer<'_> {
    /// cosign's plain-HTTP flags for `image`'s registry, if its transport is plain HTTP. cosign
    /// (v2, here) honours `--allow-http-registry` in sign, attest, triangulate and
    /// verify-attestation, but `verify` reaches the registry over HTTPS unless it also gets
    /// `--allow-insecure-registry` (which would also skip TLS verification: harmless only for a
    /// registry that speaks no TLS, the one case it is passed).
    fn http_args(&self, image: &str, verify: bool) -> Vec<String> {
        if !self.transports.plain_http(image) {
            return Vec::new();
        }
        let mut args = vec!["--allow-http-registry=true".to_owned()];
        if verify {
            args.push("--allow-insecure-registry=true".to_owned());
        }
        args
    }

    fn key_args(&self) -> Vec<String> {
        let mut args = vec![format!("--tlog-upload={}", self.tlog_upload)];
        if self.mode == Mode::Key {
            args.extend(["--key".into(), KEY_REF.into()]);
        }
        args
    }

    fn verify_args(&self, public_key: &Path) -> Vec<String> {
        let mut args = Vec::new();
        if !self.tlog_upload {
            args.push("--insecure-ignore-tlog=true".into());
        }
        match &self.mode {
            Mode::Key => args.extend(["--key".into(), public_key.display().to_string()]),
            Mode::Keyless { repository } => args.extend([
                "--certificate-identity-regexp".into(),
                format!("^https://github.com/{repository}/"),
                "--certificate-oidc-issuer".into(),
                GITHUB_OIDC_ISSUER.into(),
            ]),
        }
        args
    }

    /// Opens the key (key mode) before anything is built: a wrong password fails here.
    pub fn check_key(&self) -> Result<()> {
        self.public_key().map(drop)
    }

    fn public_key(&self) -> Result<String> {
        cmd!(self.sh, "cosign public-key --key {KEY_REF}")
            .quiet()
            .stdin("")
            .ignore_stderr()
            .read()
            .context("cosign could not open COSIGN_PRIVATE_KEY: check the key and COSIGN_PASSWORD")
    }

    /// Writes the public key that verifies this release's signatures (key mode) to `out`.
    pub fn write_public_key(&self, out: &Path) -> Result<()> {
        if self.mode != Mode::Key {
            return Ok(());
        }
        std::fs::write(out, self.public_key()? + "\n").with_context(|| format!("cannot write {}", out.display()))
    }

    /// Signs `image` (`repo@digest`) and, for an index, every manifest in it.
    pub fn sign(&self, image: &str) -> Result<()> {
        let (args, http) = (self.key_args(), self.http_args(image, false));
        cmd!(self.sh, "cosign sign --yes --recursive {args...} {http...} {image}")
            .quiet()
            .stdin("")
            .ignore_stdout()
            .run()
            .with_context(|| format!("cosign could not sign {image}"))
    }

    pub fn attest(&self, image: &str, predicate_type: &str, predicate: &Path) -> Result<()> {
        let (args, http) = (self.key_args(), self.http_args(image, false));
        cmd!(self.sh, "cosign attest --yes {args...} {http...} --type {predicate_type} --predicate {predicate} {image}")
            .quiet()
            .stdin("")
            .ignore_stdout()
            .run()
            .with_context(|| format!("cosign could not attest {predicate_type} for {image}"))
    }

    pub fn verify(&self, image: &str, public_key: &Path) -> Result<()> {
        let (args, http) = (self.verify_args(public_key), self.http_args(image, true));
        cmd!(self.sh, "cosign verify {args...} {http...} {image}")
            .quiet()
            .stdin("")
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .with_context(|| format!("the signature of {image} does not verify"))
    }

    pub fn verify_attestation(&self, image: &str, predicate_type: &str, public_key: &Path) -> Result<()> {
        let (args, http) = (self.verify_args(public_key), self.http_args(image, false));
        cmd!(self.sh, "cosign verify-attestation {args...} {http...} --type {predicate_type} {image}")
            .quiet()
            .stdin("")
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .with_context(|| format!("the {predicate_type} attestation of {image} does not verify"))
    }

    /// Where cosign stored the signature or attestation (`sig`/`att`) of `image`.
    pub fn triangulate(&self, image: &str, kind: &str) -> Result<String> {
        let kind = if kind == "att" { "attestation" } else { "signature" };
        let http = self.http_args(image, false);
        let reference = cmd!(self.sh, "cosign triangulate --type {kind} {http...} {image}").quiet().read()?;
        Ok(reference.trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::credentials::lookup;

    #[test]
    fn the_mode_comes_from_the_environment() {
        let key = [("COSIGN_PRIVATE_KEY", "-----BEGIN"), ("COSIGN_PASSWORD", "")];
        assert_eq!(mode(lookup(&key)).unwrap(), Mode::Key);
        let actions = [
            ("GITHUB_ACTIONS", "true"),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://x"),
            ("GITHUB_REPOSITORY", "acme/beacon"),
        ];
        assert_eq!(mode(lookup(&actions)).unwrap(), Mode::Keyless { repository: "acme/beacon".into() });
        let err = mode(lookup(&[("COSIGN_PRIVATE_KEY", "k")])).unwrap_err().to_string();
        assert!(err.contains("COSIGN_PASSWORD"), "{err}");
        let err = mode(lookup(&[("GITHUB_ACTIONS", "true")])).unwrap_err().to_string();
        assert!(err.contains("id-token: write") && err.contains("enabled = false"), "{err}");
    }
}
