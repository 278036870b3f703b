//! Verifying from the registry, and listing what it holds (cosign 3's `tree`), with the failures
//! cosign 3 hides told apart from what is missing. Looking for Sigstore bundles, cosign 3 skips a
//! bundle it could not fetch after a transient registry error, or falls back to cosign 2's tags,
//! and then finds nothing ("no signatures found"; cosign's `GetBundles` and `verify`); its `tree`
//! goes on past a referrer it could not fetch, saying so on stderr, or lists it under its bare
//! media type. Such a failure is transient (`rules::retry::Transient::hidden`): a verification that
//! fails while the tree lists a bundle of that kind, or while the tree cannot be read whole, and a
//! listing that skipped something. Except where the verification is of what was there before this
//! run (a resumed release's, a previous release's, an audited tag's) and cosign says it fetched the
//! bundle and it did not verify with this key (`rules::cosign_output::refused_by_key`): another
//! signer's, the answer. Right after a write the listing may lag, showing only another key's
//! bundle: that failure is retried. One attempt here is one cosign run (and, for a failed
//! verification, one `tree`); every repeat goes through the one retry loop (`tools::retry`), with
//! its backoff, budget and count: none has a loop of its own.

use std::path::Path;

use anyhow::{Context, Result};

use super::{SignatureFormat, Signer};
use crate::rules::cosign_output::{self, Tree};
use crate::rules::retry::{Attempted, Transient};
use crate::rules::transport;
use crate::tools::retry;

/// What a verification looks at, which decides what a failure while the registry lists a bundle of
/// its kind means.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// What was there before this run's writes: a listed bundle cosign fetched and refused is
    /// another signer's.
    Existing,
    /// What this run just wrote: the listing may not show it yet, whatever else it shows.
    Written,
}

impl Signer<'_> {
    /// Verifies the signature of `image` from the registry, under the retry policy.
    pub fn verify(&self, image: &str, public_key: &Path) -> Result<()> {
        self.verified(image, "signature", public_key)
            .with_context(|| format!("the signature of {image} does not verify"))
    }

    /// Verifies the `predicate_type` attestation of `image` from the registry, under the retry policy.
    pub fn verify_attestation(&self, image: &str, predicate_type: &str, public_key: &Path) -> Result<()> {
        self.verified(image, predicate_type, public_key)
            .with_context(|| format!("the {predicate_type} attestation of {image} does not verify"))
    }

    fn verified(&self, image: &str, what: &str, public_key: &Path) -> Result<()> {
        self.verifies_as(image, what, public_key, Expected::Existing)?
    }

    /// Whether `what` (`signature`, or an attestation's predicate type), just written on `image`,
    /// verifies, under the retry policy: `Ok(Err)` it is not there or does not verify (cosign's
    /// words), `Err` the retries were spent or cosign could not run.
    pub fn verifies_written(&self, image: &str, what: &str, public_key: &Path) -> Result<Result<()>> {
        self.verifies_as(image, what, public_key, Expected::Written)
    }

    fn verifies_as(&self, image: &str, what: &str, public_key: &Path, expected: Expected) -> Result<Result<()>> {
        let operation = format!("cosign {} {image}", self.verification(image, what, public_key)[0]);
        let registry = transport::registry_of(image);
        retry::retry(&operation, registry, || self.verify_once(image, what, public_key, expected))
    }

    /// The arguments that verify `what` (`signature`, or an attestation's predicate type) on `image`.
    fn verification(&self, image: &str, what: &str, public_key: &Path) -> Vec<String> {
        let signature = what == "signature";
        let mut args = vec![if signature { "verify" } else { "verify-attestation" }.to_owned()];
        args.extend(self.verify_args(public_key).into_iter().chain(self.http_args(image, signature)));
        if !signature {
            args.extend(["--type".into(), what.into()]);
        }
        args
    }

    /// One verification of `what` (`signature`, or an attestation's predicate type) on `image`:
    /// `Done(Ok)` it verifies, `Done(Err)` it is not there or does not verify (cosign's words),
    /// `Failed` a transient failure, one cosign said or one it hid.
    fn verify_once(&self, image: &str, what: &str, key: &Path, expected: Expected) -> Result<Attempted<Result<()>>> {
        let verified = self.attempt(self.verification(image, what, key), image)?;
        let error = match verified {
            Attempted::Done(Err(error)) if self.format == SignatureFormat::SigstoreBundle => error,
            other => return Ok(other.map(|output| output.map(drop))),
        };
        if expected == Expected::Existing && cosign_output::refused_by_key(&format!("{error:#}")) {
            return Ok(Attempted::Done(Err(error)));
        }
        Ok(match self.tree_once(image)? {
            Attempted::Done(Ok(tree)) if tree.lists_bundle(what) => Attempted::Failed(Transient::hidden(
                &format!("cosign found no {what} that the registry lists"),
                &format!("{error:#}"),
            )),
            // The listing is incomplete: whether the registry holds it is not known yet.
            Attempted::Failed(transient) => Attempted::Failed(transient),
            Attempted::Done(_) => Attempted::Done(Err(error)),
        })
    }

    /// Whether `what` verifies on every one of `images` (all in one repository) in one cosign run:
    /// the quick confirmation after a write. `Done(false)` says only that one of them did not (or
    /// that cosign 3 hid an error): they are to be verified one by one ([`Signer::verifies`]),
    /// which tells which and why; `Failed`, a transient failure cosign said.
    pub fn all_verify_once(&self, images: &[&str], what: &str, public_key: &Path) -> Result<Attempted<bool>> {
        let Some(first) = images.first() else { return Ok(Attempted::Done(true)) };
        let verified = self.attempt_on(self.verification(first, what, public_key), images)?;
        Ok(verified.map(|output| output.is_ok()))
    }

    /// cosign 3: what `cosign tree` lists for `image` (its signatures and attestations, each a
    /// content-addressed referrer `repo@digest`), for `stored_in`; under the retry policy.
    pub fn tree(&self, image: &str) -> Result<Tree> {
        let operation = format!("cosign tree {image}");
        retry::retry(&operation, transport::registry_of(image), || self.tree_once(image))?
            .with_context(|| format!("cosign could not list the referrers of {image}"))
    }

    /// One `cosign tree` of `image`. A listing that says it skipped a referrer it could not fetch,
    /// or names one by its bare media type (only its manifest failed), is incomplete: transient. A
    /// listing of a shape this engine does not read is an error (`rules::cosign_output::tree`).
    fn tree_once(&self, image: &str) -> Result<Attempted<Result<Tree>>> {
        let args = [vec!["tree".to_owned()], self.http_args(image, false)].concat();
        let output = match self.attempt(args, image)? {
            Attempted::Done(Ok(output)) => output,
            Attempted::Done(Err(error)) => return Ok(Attempted::Done(Err(error))),
            Attempted::Failed(transient) => return Ok(Attempted::Failed(transient)),
        };
        let said = String::from_utf8_lossy(&output.stderr);
        if let Some(why) = said.lines().find(|l| l.starts_with("Error fetching")) {
            return Ok(Attempted::Failed(Transient::hidden("cosign could not list every referrer", why)));
        }
        let listed = cosign_output::tree(&String::from_utf8_lossy(&output.stdout)).map_err(|problem| {
            anyhow::anyhow!(cosign_output::unreadable(self.tool(), &format!("cosign tree {image}"), &problem))
        })?;
        Ok(match listed.unnamed_bundle() {
            None => Attempted::Done(Ok(listed)),
            Some(why) => Attempted::Failed(Transient::hidden("cosign could not list every referrer", why)),
        })
    }
}
