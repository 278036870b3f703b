//! Writing a signature and attestations until they verify: one attempt writes what is missing and
//! verifies all of it once, and the attempts repeat through the one retry loop (`tools::retry`),
//! with its backoff, budget and count. Used by the sign step for each image, and by a retraction
//! for its attestation.

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

/// Where one of `write`'s checks stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Verified,
    /// To verify: written, or its verification failed for a transient reason (one cosign hid,
    /// perhaps).
    Unverified,
    /// Not there, or it does not verify: written in the next attempt.
    Missing,
}

/// Writes what is `missing` (a signature on `index`, each attestation on its manifest), one write
/// after another, then verifies side by side what is not verified yet (after a write, all of it):
/// one attempt, repeated through the one retry loop until all of it verifies. A registry without
/// the OCI referrers API keeps cosign 3's signatures and attestations in one index under a fallback
/// tag that each write rewrites, and a transient error while reading it can drop an earlier entry:
/// so what does not verify after a write is written again in the next attempt (harmless: a
/// repeated write verifies the same), and what cosign could not tell is only verified again.
pub(super) fn write(
    signer: &Signer<'_>,
    index: &str,
    checks: &[&Check<'_>],
    missing: Vec<bool>,
    public_key: &Path,
) -> Result<()> {
    let detached = signer.detach();
    let mut states: Vec<State> =
        missing.into_iter().map(|m| if m { State::Missing } else { State::Verified }).collect();
    // Whether something was written since every check was last verified.
    let mut wrote = false;
    let operation = format!("signing and verifying {index}");
    retry::retry(&operation, transport::registry_of(index), || {
        if let Attempted::Failed(transient) = write_missing(signer, index, checks, &mut states, &mut wrote)? {
            return Ok(Attempted::Failed(transient));
        }
        let pending: Vec<usize> = (0..checks.len()).filter(|&i| wrote || states[i] != State::Verified).collect();
        wrote = false;
        let pending = match confirm_together(signer, checks, pending, &mut states, public_key)? {
            Attempted::Done(left) => left,
            Attempted::Failed(transient) => return Ok(Attempted::Failed(transient)),
        };
        let results = parallel::each(signer.sh, &pending, |sh, &i| {
            detached.on(sh).verify_once(checks[i].subject(), checks[i].what(), public_key)
        });
        let mut failed = None;
        for (i, result) in pending.into_iter().zip(results) {
            let (now, transient) = match result? {
                Attempted::Done(Ok(())) => (State::Verified, None),
                Attempted::Failed(transient) => (State::Unverified, Some(transient)),
                Attempted::Done(Err(error)) => {
                    let written = Transient::hidden("written, and it does not verify yet", &format!("{error:#}"));
                    (State::Missing, Some(written))
                }
            };
            states[i] = now;
            failed = failed.or(transient);
        }
        Ok(failed.map_or(Attempted::Done(()), Attempted::Failed))
    })
}

/// Verifies the `pending` checks of each kind (the signatures, each attestation type) in one cosign
/// run per kind, side by side, and marks those of a kind that all verify as verified: the checks
/// left to verify one by one (those of a kind where something did not verify), or the transient
/// failure that ends the attempt (the next one asks again, as few requests as the first).
fn confirm_together(
    signer: &Signer<'_>,
    checks: &[&Check<'_>],
    pending: Vec<usize>,
    states: &mut [State],
    public_key: &Path,
) -> Result<Attempted<Vec<usize>>> {
    let kinds = grouped(&pending, |i| checks[i].what());
    let detached = signer.detach();
    let confirmed = parallel::each(signer.sh, &kinds, |sh, (what, group)| {
        let mut subjects: Vec<&str> = group.iter().map(|&i| checks[i].subject()).collect();
        subjects.sort_unstable();
        subjects.dedup();
        detached.on(sh).all_verify_once(&subjects, what, public_key)
    });
    let mut left = Vec::new();
    let mut failed = None;
    for ((_, group), confirmed) in kinds.iter().zip(confirmed) {
        match confirmed? {
            Attempted::Done(true) => group.iter().for_each(|&i| states[i] = State::Verified),
            Attempted::Done(false) => left.extend(group),
            Attempted::Failed(transient) => failed = failed.or(Some(transient)),
        }
    }
    if let Some(transient) = failed {
        return Ok(Attempted::Failed(transient));
    }
    left.sort_unstable();
    Ok(Attempted::Done(left))
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

/// One attempt's writes: the signature if one of `checks` is `Missing` (on `index`, recursively),
/// then each missing attestation; each written check is to verify, and `wrote` says that something
/// was. A transient failure ends the attempt.
fn write_missing(
    signer: &Signer<'_>,
    index: &str,
    checks: &[&Check<'_>],
    states: &mut [State],
    wrote: &mut bool,
) -> Result<Attempted<()>> {
    let missing = |states: &[State], signature: bool| -> Vec<usize> {
        let is = |i: usize| matches!(checks[i], Check::Signature(_)) == signature && states[i] == State::Missing;
        (0..checks.len()).filter(|&i| is(i)).collect()
    };
    let signatures = missing(states, true);
    if !signatures.is_empty() {
        if let failed @ Attempted::Failed(_) = signer.sign_once(index)? {
            return Ok(failed);
        }
        signatures.into_iter().for_each(|i| states[i] = State::Unverified);
        *wrote = true;
    }
    // Attestations of one manifest one after another (without the referrers API, cosign rewrites
    // one index per subject: two writers at once would lose one's entry), of different manifests
    // side by side.
    let groups = grouped(&missing(states, false), |i| checks[i].subject());
    let detached = signer.detach();
    let results = parallel::each(signer.sh, &groups, |sh, (_, group)| attest_group(&detached.on(sh), checks, group));
    let mut failed = None;
    for result in results {
        let (written, transient) = result?;
        for i in written {
            states[i] = State::Unverified;
            *wrote = true;
        }
        failed = failed.or(transient);
    }
    Ok(failed.map_or(Attempted::Done(()), Attempted::Failed))
}

/// Writes the attestations `group` names (all of one manifest), in turn, until one fails for a
/// transient reason: which were written, and that reason.
fn attest_group(
    signer: &Signer<'_>,
    checks: &[&Check<'_>],
    group: &[usize],
) -> Result<(Vec<usize>, Option<Transient>)> {
    let mut written = Vec::new();
    for &i in group {
        if let Check::Attestation(manifest, predicate_type, predicate) = checks[i] {
            if let Attempted::Failed(transient) = signer.attest_once(manifest, predicate_type, predicate)? {
                return Ok((written, Some(transient)));
            }
            written.push(i);
        }
    }
    Ok((written, None))
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
