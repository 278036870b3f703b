//! Unit tests of the retraction decisions: which floating tags move where, which disappear, and
//! what a retraction needs before it may touch the registry.

use super::*;
use crate::rules::plan::tests::inputs;

fn v(text: &str) -> Version {
    Version::parse(text).unwrap()
}

/// Each release's index digest in these tests.
fn digest(version: &str) -> String {
    format!("sha256:{version}")
}

/// The changes as `tag action` words, with `current` given as `tag=version` (`tag=~` for a
/// placeholder; tags not listed are absent).
fn decide(retract: &str, released: &[&str], retracted_before: &[&str], current: &[(&str, &str)]) -> Vec<String> {
    let released: Vec<Version> = released.iter().map(|r| v(r)).collect();
    let retracted: Vec<Version> = retracted_before.iter().map(|r| v(r)).collect();
    let current = current
        .iter()
        .map(|(tag, at)| {
            let now = if *at == "~" { Current::Placeholder(digest("placeholder")) } else { Current::At(digest(at)) };
            (tag.to_string(), now)
        })
        .collect();
    changes(&v(retract), &released, &retracted, &digest(retract), &current)
        .into_iter()
        .map(|change| match change.action {
            Action::Move(to) => format!("{} -> {to}", change.tag),
            Action::Delete => format!("{} deleted", change.tag),
            Action::Keep => format!("{} kept", change.tag),
        })
        .collect()
}

#[test]
fn floating_tags_move_to_the_highest_live_release_or_disappear() {
    type Case<'a> = (&'a str, &'a str, &'a [&'a str], &'a [&'a str], &'a [(&'a str, &'a str)], &'a [&'a str]);
    let table: [Case; 9] = [
        (
            "the latest release",
            "1.1.0",
            &["1.0.0", "1.1.0"],
            &[],
            &[("1.1", "1.1.0"), ("1", "1.1.0"), ("latest", "1.1.0")],
            &["1.1 deleted", "1 -> 1.0.0", "latest -> 1.0.0"],
        ),
        (
            "a middle release",
            "1.1.0",
            &["1.0.0", "1.1.0", "1.2.0"],
            &[],
            &[("1.1", "1.1.0"), ("1", "1.2.0"), ("latest", "1.2.0")],
            &["1.1 deleted", "1 kept", "latest kept"],
        ),
        (
            "a middle patch, already superseded in its line",
            "1.1.1",
            &["1.1.0", "1.1.1", "1.1.2"],
            &[],
            &[("1.1", "1.1.2"), ("1", "1.1.2"), ("latest", "1.1.2")],
            &["1.1 kept", "1 kept", "latest kept"],
        ),
        (
            "an old-line hotfix",
            "1.0.1",
            &["1.0.0", "1.1.0", "1.0.1"],
            &[],
            &[("1.0", "1.0.1"), ("1", "1.1.0"), ("latest", "1.1.0")],
            &["1.0 -> 1.0.0", "1 kept", "latest kept"],
        ),
        (
            "every release of the 1.1 line (1.1.1 retracted before)",
            "1.1.0",
            &["1.0.0", "1.1.0", "1.1.1"],
            &["1.1.1"],
            &[("1.1", "1.1.0"), ("1", "1.1.0"), ("latest", "1.1.0")],
            &["1.1 deleted", "1 -> 1.0.0", "latest -> 1.0.0"],
        ),
        ("a release candidate: it holds no floating tag", "1.1.0-rc.1", &["1.0.0", "1.1.0-rc.1"], &[], &[], &[]),
        (
            "a 0.x line: no bare 0",
            "0.2.0",
            &["0.1.0", "0.2.0"],
            &[],
            &[("0.2", "0.2.0"), ("latest", "0.2.0")],
            &["0.2 deleted", "latest -> 0.1.0"],
        ),
        (
            "a new major",
            "2.0.0",
            &["1.9.0", "2.0.0"],
            &[],
            &[("2.0", "2.0.0"), ("2", "2.0.0"), ("latest", "2.0.0")],
            &["2.0 deleted", "2 deleted", "latest -> 1.9.0"],
        ),
        (
            "an interrupted retraction: latest moved, 1.1 left as a placeholder",
            "1.1.0",
            &["1.0.0", "1.1.0"],
            &[],
            &[("1.1", "~"), ("1", "1.1.0"), ("latest", "1.0.0")],
            &["1.1 deleted", "1 -> 1.0.0", "latest kept"],
        ),
    ];
    for (case, retract, released, retracted_before, current, expected) in table {
        assert_eq!(decide(retract, released, retracted_before, current), expected, "{case}");
    }
    // The only release: every floating tag disappears.
    assert_eq!(
        decide("1.0.0", &["1.0.0"], &[], &[("1.0", "1.0.0"), ("1", "1.0.0"), ("latest", "1.0.0")]),
        ["1.0 deleted", "1 deleted", "latest deleted"]
    );
}

fn plan_with(changes: Vec<Change>, attested: Option<bool>) -> RepositoryPlan {
    RepositoryPlan {
        image: "beacon".into(),
        repository: "ghcr.io/acme/beacon".into(),
        digest: digest("1.1.0"),
        changes,
        targets: BTreeMap::from([(v("1.0.0"), digest("1.0.0"))]),
        attested,
    }
}

#[test]
fn done_means_no_tag_to_touch_and_the_attestation_in_place() {
    let current = BTreeMap::from([("1".to_string(), Current::At(digest("1.0.0")))]);
    let finished = changes(&v("1.1.0"), &[v("1.0.0"), v("1.1.0")], &[], &digest("1.1.0"), &current);
    assert!(plan_with(finished.clone(), Some(true)).is_done());
    assert!(plan_with(finished.clone(), None).is_done(), "signing off: nothing to attest");
    assert!(!plan_with(finished, Some(false)).is_done(), "the attestation is missing");
    let current = BTreeMap::from([("1".to_string(), Current::At(digest("1.1.0")))]);
    let pending = changes(&v("1.1.0"), &[v("1.0.0"), v("1.1.0")], &[], &digest("1.1.0"), &current);
    assert!(!plan_with(pending, Some(true)).is_done());
}

#[test]
fn the_listing_names_every_tag_where_it_points_and_where_it_goes() {
    let current = BTreeMap::from([
        ("1.1".to_string(), Current::At(digest("1.1.0"))),
        ("1".to_string(), Current::At(digest("1.1.0"))),
        ("latest".to_string(), Current::At(digest("1.0.0"))),
    ]);
    let decided = changes(&v("1.1.0"), &[v("1.0.0"), v("1.1.0")], &[], &digest("1.1.0"), &current);
    let text = render(&v("1.1.0"), "crashes on start", &[plan_with(decided, Some(false))]);
    assert!(text.starts_with("retract 1.1.0: crashes on start\n"), "{text}");
    assert!(text.contains("image beacon in ghcr.io/acme/beacon"), "{text}");
    assert!(text.contains("1.1.0    sha256:1.1.0  stays (versions are immutable); gets a signed"), "{text}");
    assert!(text.contains("1.1      sha256:1.1.0 (1.1.0)  -> deleted"), "{text}");
    assert!(text.contains("1        sha256:1.1.0 (1.1.0)  -> 1.0.0 sha256:1.0.0"), "{text}");
    assert!(text.contains("latest   sha256:1.0.0  unchanged"), "{text}");
}

#[test]
fn what_a_retraction_needs_first() {
    let released = ["v1.0.0".to_string(), "v1.1.0".to_string()];
    assert!(check_released(&v("1.1.0"), &released).is_ok());
    let error = check_released(&v("1.2.0"), &released).unwrap_err().to_string();
    assert!(error.contains("1.2.0 was never released") && error.contains("no git tag v1.2.0"), "{error}");
    assert_eq!(parse_version("v1.1.0").unwrap(), v("1.1.0"));
    assert!(parse_version("1.1").unwrap_err().to_string().contains("e.g. 1.2.3"));

    let version = v("1.1.0");
    assert_eq!(reason(&version, Some(" crashes "), None).unwrap(), "crashes");
    assert_eq!(reason(&version, None, Some("crashes\n")).unwrap(), "crashes");
    assert_eq!(reason(&version, Some("crashes"), Some("crashes\n")).unwrap(), "crashes");
    let error = reason(&version, Some("other"), Some("crashes")).unwrap_err().to_string();
    assert!(error.contains("retracted/v1.1.0") && error.contains("omit --reason"), "{error}");
    let error = reason(&version, None, None).unwrap_err().to_string();
    assert!(error.contains("--reason") && error.contains("git tag -a retracted/v1.1.0"), "{error}");
    assert!(reason(&version, Some(" "), None).is_err());
    assert!(reason(&version, None, Some("")).is_err(), "a tag without a message gives no reason");
}

#[test]
fn the_release_plan_of_a_retracted_version_names_its_references() {
    // The workspace has moved on to 1.2.0 (tagged at HEAD), and 1.1.0 is already tagged retracted.
    let mut moved_on = inputs("1.2.0", &["v1.0.0", "v1.1.0", "v1.2.0"]);
    moved_on.git.tags_at_head = vec!["v1.2.0".into()];
    moved_on.git.retracted_tags = vec!["retracted/v1.1.0".into()];
    moved_on.registry = Some("127.0.0.1:5000/acme".into());
    let plan = release_plan(&moved_on, &v("1.1.0")).unwrap();
    assert_eq!(plan.version, v("1.1.0"));
    assert_eq!(plan.images[0].versioned_tags, ["127.0.0.1:5000/acme/beacon:1.1.0"]);
    assert!(plan.push && plan.signing.enabled);
    assert_eq!(predicate_type(&plan.images[0]).unwrap(), "https://github.com/acme/beacon/retraction/v1");
    let mut sourceless = plan.images[0].clone();
    sourceless.labels.remove(SOURCE_LABEL);
    let error = predicate_type(&sourceless).unwrap_err().to_string();
    assert!(error.contains("`repository` in [workspace.package]"), "{error}");
}
