//! Writing a signature and attestations until they verify. Each cosign run — a write, a
//! verification — is one retried operation of its own (`tools::retry`), so a registry that fails
//! now and then costs one run's repeat, not the whole image's. Around them, one more loop of the
//! same kind: a registry without the OCI referrers API keeps cosign 3's signatures and
//! attestations in one index under a fallback tag that every write rewrites, and a transient error
//! while cosign reads it can drop an earlier entry, so what does not verify after the writes is
//! written again. Used by the sign step for each image, and by a retraction for its attestation.

use std::path::Path;

use anyhow::Result;

use super::Check;
use crate::rules::retry::{Attempted, Transient};
use crate::rules::transport;
use crate::steps::parallel;
use crate::tools::cosign::Signer;
use crate::tools::retry;

/// Writes whichever of `checks` does not verify unless all of them already do (a resumed release
/// signs nothing twice), then requires all of them to verify: [`write`]. Returns whether it wrote.
/// `index` is what a missing signature is written on (`--recursive`: its manifests too).
pub fn ensure(signer: &Signer<'_>, index: &str, checks: &[Check<'_>], public_key: &Path) -> Result<bool> {
    let detached = signer.detach();
    let verified = parallel::each(signer.sh, checks, |sh, check| check.verify(&detached.on(sh), public_key));
    let missing: Vec<bool> = verified.iter().map(Result::is_err).collect();
    if !missing.contains(&true) {
        return Ok(false);
    }
    write(signer, index, &checks.iter().collect::<Vec<_>>(), missing, public_key)?;
    Ok(true)
}

/// Writes what is `missing` (a signature on `index`, each attestation on its manifest), then
/// verifies all of `checks` — a write may have dropped an earlier one — and writes again, in the
/// next round, what does not verify: rounds repeat through the one retry loop, their count and
/// waits under its policy like any operation's. Each write and verification inside a round is
/// retried on its own; a round fails only when something written does not verify (harmless to
/// repeat: a repeated write verifies the same).
pub(super) fn write(
    signer: &Signer<'_>,
    index: &str,
    checks: &[&Check<'_>],
    mut missing: Vec<bool>,
    public_key: &Path,
) -> Result<()> {
    let detached = signer.detach();
    let operation = format!("writing the signatures and attestations of {index}");
    retry::retry(&operation, transport::registry_of(index), || {
        write_missing(signer, index, checks, &missing)?;
        let left = confirm_together(signer, checks, public_key)?;
        let results = parallel::each(signer.sh, &left, |sh, &i| {
            detached.on(sh).verifies_written(checks[i].subject(), checks[i].what(), public_key)
        });
        missing = vec![false; checks.len()];
        let mut dropped = None;
        for (i, result) in left.into_iter().zip(results) {
            if let Err(error) = result? {
                missing[i] = true;
                dropped = dropped.or(Some(Transient::hidden("written, and it does not verify", &format!("{error:#}"))));
            }
        }
        Ok(dropped.map_or(Attempted::Done(()), Attempted::Failed))
    })
}

/// Verifies all of `checks` of each kind (the signatures, each attestation type) in one cosign run
/// per kind, side by side: the quick confirmation. Returns the checks left to verify one by one —
/// those of a kind where something did not verify, or whose run met a transient failure (the one
/// by one verifications, retried each, tell which and why).
fn confirm_together(signer: &Signer<'_>, checks: &[&Check<'_>], public_key: &Path) -> Result<Vec<usize>> {
    let all: Vec<usize> = (0..checks.len()).collect();
    let kinds = grouped(&all, |i| checks[i].what());
    let detached = signer.detach();
    let confirmed = parallel::each(signer.sh, &kinds, |sh, (what, group)| {
        let mut subjects: Vec<&str> = group.iter().map(|&i| checks[i].subject()).collect();
        subjects.sort_unstable();
        subjects.dedup();
        detached.on(sh).all_verify_once(&subjects, what, public_key)
    });
    let mut left = Vec::new();
    for ((_, group), confirmed) in kinds.iter().zip(confirmed) {
        if !matches!(confirmed?, Attempted::Done(true)) {
            left.extend(group);
        }
    }
    left.sort_unstable();
    Ok(left)
}

/// The checks `indices` names, grouped by `key` (a kind, a subject), the keys in order, each
/// group's indices in the order given.
fn grouped<'k>(indices: &[usize], key: impl Fn(usize) -> &'k str) -> Vec<(&'k str, Vec<usize>)> {
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    for &i in indices {
        match groups.iter_mut().find(|(k, _)| *k == key(i)) {
            Some((_, group)) => group.push(i),
            None => groups.push((key(i), vec![i])),
        }
    }
    groups.sort_by_key(|(k, _)| *k);
    groups
}

/// One round's writes: the signature if one of `checks` is `missing` (on `index`, recursively),
/// then each missing attestation. Attestations of one manifest one after another (without the
/// referrers API, cosign rewrites one index per subject: two writers at once would lose one's
/// entry), of different manifests side by side.
fn write_missing(signer: &Signer<'_>, index: &str, checks: &[&Check<'_>], missing: &[bool]) -> Result<()> {
    if (0..checks.len()).any(|i| missing[i] && matches!(checks[i], Check::Signature(_))) {
        signer.sign(index)?;
    }
    let attestations: Vec<usize> =
        (0..checks.len()).filter(|&i| missing[i] && matches!(checks[i], Check::Attestation(..))).collect();
    let groups = grouped(&attestations, |i| checks[i].subject());
    let detached = signer.detach();
    let results = parallel::each(signer.sh, &groups, |sh, (_, group)| {
        group.iter().try_for_each(|&i| match checks[i] {
            Check::Attestation(manifest, predicate_type, predicate) => {
                detached.on(sh).attest(manifest, predicate_type, predicate)
            }
            Check::Signature(_) => Ok(()),
        })
    });
    results.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn checks_are_grouped_by_key_in_key_order_keeping_their_own_order() {
        let keys = ["sbom", "signature", "sbom", "provenance", "signature"];
        let groups = grouped(&[0, 1, 2, 3, 4], |i| keys[i]);
        assert_eq!(groups, [("provenance", vec![3]), ("sbom", vec![0, 2]), ("signature", vec![1, 4])]);
        assert!(grouped(&[], |i| keys[i]).is_empty());
    }
}
