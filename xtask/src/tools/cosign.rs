//! Signing with cosign: a key from the environment (`COSIGN_PRIVATE_KEY`, read by cosign itself via
//! `env://`, and `COSIGN_PASSWORD`), or keyless with GitHub Actions' OIDC token (the mode and its
//! rules: `rules::signing`). Signs each pushed index digest and its platform manifests, attests
//! SBOM and provenance per platform, and verifies all of it from the registry. Keys and passwords never reach argv. A registry whose transport is
//! plain HTTP gets cosign's flags for it; every other registry keeps TLS with verification.

use std::path::Path;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::rules::signing;
pub use crate::rules::signing::{mode, Mode};
use crate::rules::transport::Transports;

const KEY_REF: &str = "env://COSIGN_PRIVATE_KEY";

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
        signing::verify_options(&self.mode, self.tlog_upload, &public_key.display().to_string())
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
