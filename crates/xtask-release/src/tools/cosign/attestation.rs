//! Reading attestations back: the predicates of the attestations of one type on an image whose
//! signatures verify (`cosign verify-attestation`, its DSSE payloads decoded). A child of
//! `tools::cosign`, sharing its flags for keys, identities and plain-HTTP registries.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use super::Signer;

impl Signer<'_> {
    /// The predicates of every verified `predicate_type` attestation on `image` (`repo@digest`);
    /// an error with cosign's words when none verifies (or there is none: ask the registry which).
    pub fn verified_predicates(
        &self,
        image: &str,
        predicate_type: &str,
        public_key: &Path,
    ) -> Result<Vec<serde_json::Value>> {
        let mut args = vec!["verify-attestation".into()];
        args.extend(self.verify_args(public_key).into_iter().chain(self.http_args(image, false)));
        args.extend(["--type".into(), predicate_type.into()]);
        let output = self
            .cosign(args, image)
            .with_context(|| format!("the {predicate_type} attestation of {image} does not verify"))?;
        let mut predicates = Vec::new();
        for line in String::from_utf8_lossy(&output.stdout).lines().filter(|l| !l.trim().is_empty()) {
            let envelope: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("cosign printed no DSSE envelope for {image}"))?;
            let payload = envelope["payload"].as_str().context("a DSSE envelope without payload")?;
            let decoded = cmd!(self.sh, "base64 --decode").stdin(payload).quiet().output();
            let decoded = decoded.context("cannot run base64")?;
            if !decoded.status.success() {
                bail!("the attestation payload of {image} is not base64");
            }
            let statement: serde_json::Value = serde_json::from_slice(&decoded.stdout)
                .with_context(|| format!("the attestation of {image} is not an in-toto statement"))?;
            predicates.push(statement["predicate"].clone());
        }
        Ok(predicates)
    }
}
