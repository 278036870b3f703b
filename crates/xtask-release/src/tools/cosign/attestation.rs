//! Reading attestations back: the in-toto statements of the attestations of one type on an image
//! whose signatures verify (`cosign verify-attestation`, its DSSE payloads decoded), and every
//! attestation stored for an image, verified or not (`cosign download attestation`: cosign 2's
//! envelopes, cosign 3's Sigstore bundles), so that the ones that do not verify can be named. A
//! child of `tools::cosign`, sharing its flags for keys, identities and plain-HTTP registries.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use xshell::cmd;

use super::Signer;
use crate::rules::cosign_output;

/// One attestation's in-toto statement, and its identity: the digest of its DSSE envelope's payload
/// and signatures (`sha256:`), the same whichever command read it. Not of the statement alone: the
/// same statement signed by two keys is two attestations, one of which may not verify.
#[derive(Debug, Clone)]
pub struct Statement {
    pub id: String,
    pub statement: cosign_output::Statement,
}

impl Signer<'_> {
    /// The statements of every verified `predicate_type` attestation on `image` (`repo@digest`);
    /// an error with cosign's words when none verifies (or there is none: ask the registry which).
    pub fn verified_statements(&self, image: &str, predicate_type: &str, public_key: &Path) -> Result<Vec<Statement>> {
        let mut args = vec!["verify-attestation".into()];
        args.extend(self.verify_args(public_key).into_iter().chain(self.http_args(image, false)));
        args.extend(["--type".into(), predicate_type.into()]);
        let output = self
            .cosign(args, image)
            .with_context(|| format!("the {predicate_type} attestation of {image} does not verify"))?;
        self.statements(image, "verify-attestation", &output.stdout)
    }

    /// Every attestation stored for `image`, of any type, whoever signed it: none verified.
    pub fn stored_statements(&self, image: &str) -> Result<Vec<Statement>> {
        let mut args = vec!["download".into(), "attestation".into()];
        args.extend(self.http_args(image, false));
        let output = self
            .cosign(args, image)
            .with_context(|| format!("cosign could not download the attestations of {image}"))?;
        self.statements(image, "download attestation", &output.stdout)
    }

    /// The statements of what cosign printed: one JSON document per line, a DSSE envelope (cosign 2,
    /// and every verification) or a Sigstore bundle holding one (`dsseEnvelope`, cosign 3's download),
    /// read typed (`rules::cosign_output`): one that is not is an error naming cosign, never skipped.
    fn statements(&self, image: &str, command: &str, stdout: &[u8]) -> Result<Vec<Statement>> {
        let unreadable = |problem: String| {
            anyhow!(cosign_output::unreadable(self.tool(), &format!("cosign {command} {image}"), &problem))
        };
        let mut statements = Vec::new();
        for line in String::from_utf8_lossy(stdout).lines().filter(|l| !l.trim().is_empty()) {
            let envelope = cosign_output::envelope(line).map_err(unreadable)?;
            let decoded = cmd!(self.sh, "base64 --decode").stdin(&envelope.payload).quiet().output();
            let decoded = decoded.context("cannot run base64")?;
            if !decoded.status.success() {
                bail!("the attestation payload of {image} is not base64");
            }
            let statement = cosign_output::statement(&decoded.stdout).map_err(unreadable)?;
            statements.push(Statement { id: envelope.id(), statement });
        }
        Ok(statements)
    }
}
