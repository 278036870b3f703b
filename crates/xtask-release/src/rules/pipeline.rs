//! The pipeline, pure and in one place: every step in the order it runs (`Step`'s declaration order),
//! and `steps`, which picks from that one list the steps of a release, of a variant (one image on one
//! platform, `release --platform`) and of a merge of variants (`release merge`), leaving out steps
//! with nothing to do. `rules::plan` stores a release's list in `Plan::steps`, `rules::fanout` a
//! variant's and a merge's, and `commands::pipeline` runs whichever list it is given, in order.

use serde::{Deserialize, Serialize};

/// A pipeline step. The declaration order is the order they run in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Preflight,
    Build,
    Smoke,
    Scan,
    /// A variant's manifest, pushed by digest (no tag) for the merge.
    PushDigest,
    /// A variant's record, which `release merge` reads.
    RecordVariant,
    /// The variants' records, merged into one image index in place of build, smoke and scan.
    Merge,
    PushVersioned,
    Verify,
    Sign,
    PushFloating,
    Record,
}

impl Step {
    /// The step's name as the plan's JSON spells it.
    pub fn name(self) -> &'static str {
        match self {
            Step::Preflight => "preflight",
            Step::Build => "build",
            Step::Smoke => "smoke",
            Step::Scan => "scan",
            Step::PushDigest => "push-digest",
            Step::RecordVariant => "record-variant",
            Step::Merge => "merge",
            Step::PushVersioned => "push-versioned",
            Step::Verify => "verify",
            Step::Sign => "sign",
            Step::PushFloating => "push-floating",
            Step::Record => "record",
        }
    }
}

/// What a pipeline runs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    /// Every image on every platform, on one machine (`release`).
    Release,
    /// One image on one platform, pushed by digest (`release --platform`).
    Variant,
    /// The variants of a release, published as one (`release merge`).
    Merge,
}

/// What a release publishes, which decides the steps that have something to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publishing {
    /// Anything is pushed (not for a pull request or a branch other than the edge branch).
    pub push: bool,
    /// Signing is enabled.
    pub sign: bool,
    /// An image has floating tags (`1.2`, `latest`) to move.
    pub floating: bool,
}

/// When a step has something to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    Always,
    Pushing,
    PushingSigned,
    PushingFloating,
}

use Run::{Merge as M, Release as R, Variant as V};

/// The pipeline: each step (in run order), the runs it belongs to and when it has something to do.
const PIPELINE: [(Step, &[Run], When); 12] = [
    (Step::Preflight, &[R, V, M], When::Always),
    (Step::Build, &[R, V], When::Always),
    (Step::Smoke, &[R, V], When::Always),
    (Step::Scan, &[R, V], When::Always),
    (Step::PushDigest, &[V], When::Pushing),
    (Step::RecordVariant, &[V], When::Always),
    (Step::Merge, &[M], When::Always),
    (Step::PushVersioned, &[R, M], When::Pushing),
    (Step::Verify, &[R, M], When::Pushing),
    (Step::Sign, &[R, M], When::PushingSigned),
    (Step::PushFloating, &[R, M], When::PushingFloating),
    (Step::Record, &[R, M], When::Always),
];

/// The steps of `run` in order, without those that have nothing to do.
pub fn steps(run: Run, publishing: Publishing) -> Vec<Step> {
    let Publishing { push, sign, floating } = publishing;
    let due = |when: When| match when {
        When::Always => true,
        When::Pushing => push,
        When::PushingSigned => push && sign,
        When::PushingFloating => push && floating,
    };
    PIPELINE.iter().filter(|(_, runs, when)| runs.contains(&run) && due(*when)).map(|(step, _, _)| *step).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(run: Run, push: bool, sign: bool, floating: bool) -> Vec<&'static str> {
        steps(run, Publishing { push, sign, floating }).into_iter().map(Step::name).collect()
    }

    #[test]
    fn the_pipeline_lists_every_step_once_in_declaration_order() {
        let listed: Vec<Step> = PIPELINE.iter().map(|(step, _, _)| *step).collect();
        assert!(listed.windows(2).all(|pair| pair[0] < pair[1]), "{listed:?}");
        assert_eq!(Step::Record as usize + 1, PIPELINE.len(), "every variant of Step is listed");
        for step in listed {
            assert_eq!(serde_json::to_value(step).unwrap(), step.name(), "the JSON spells it as name()");
        }
    }

    #[test]
    fn a_release_leaves_out_what_has_nothing_to_do() {
        let all =
            ["preflight", "build", "smoke", "scan", "push-versioned", "verify", "sign", "push-floating", "record"];
        assert_eq!(names(Run::Release, true, true, true), all);
        assert_eq!(names(Run::Release, false, true, true), ["preflight", "build", "smoke", "scan", "record"]);
        let unsigned = ["preflight", "build", "smoke", "scan", "push-versioned", "verify", "record"];
        assert_eq!(names(Run::Release, true, false, false), unsigned);
    }

    #[test]
    fn a_variant_pushes_by_digest_and_a_merge_replaces_build_smoke_and_scan() {
        let variant = ["preflight", "build", "smoke", "scan", "push-digest", "record-variant"];
        assert_eq!(names(Run::Variant, true, true, true), variant);
        assert_eq!(names(Run::Variant, false, true, true), ["preflight", "build", "smoke", "scan", "record-variant"]);
        let merge = ["preflight", "merge", "push-versioned", "verify", "sign", "push-floating", "record"];
        assert_eq!(names(Run::Merge, true, true, true), merge);
        assert_eq!(names(Run::Merge, false, true, true), ["preflight", "merge", "record"]);
    }
}
