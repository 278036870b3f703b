//! Unit tests of merging per-image release records into one release summary.

use serde_json::json;

use super::*;

fn record(version: &str, images: &[(&str, &str)]) -> (PathBuf, ReleaseRecord) {
    let images: Vec<serde_json::Value> = images
        .iter()
        .map(|(name, digest)| {
            json!({ "name": name, "index_digest": digest, "platforms": {}, "tags_pushed": [], "tags_unchanged": [],
                    "floating_tags": [], "signatures": [],
                    "scan": { "passed": true, "counts": {}, "findings": [], "accepted": [] } })
        })
        .collect();
    let record = json!({ "schema_version": SCHEMA_VERSION, "version": version, "git_sha": "0123abc",
                         "context": { "kind": "tag", "ref": "refs/tags/v1.0.0" },
                         "scan": { "policy": {}, "overrides": [], "db": null },
                         "images": images, "steps": [["build", 1.0]] });
    (PathBuf::from(format!("{}.json", images_names(&record))), serde_json::from_value(record).unwrap())
}

fn images_names(record: &serde_json::Value) -> String {
    record["images"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect::<Vec<_>>().join("+")
}

fn planned() -> Vec<String> {
    vec!["beacon".into(), "beaconctl".into()]
}

#[test]
fn per_image_records_merge_in_plan_order() {
    let records = vec![record("1.0.0", &[("beaconctl", "sha256:b")]), record("1.0.0", &[("beacon", "sha256:a")])];
    let (merged, missing) = merge(records, &planned()).unwrap();
    let names: Vec<&str> = merged.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["beacon", "beaconctl"]);
    assert!(missing.is_empty());
    assert_eq!(merged.steps.len(), 2);
    assert!(summary_markdown(&merged).contains("| beaconctl | `sha256:b`"));
}

#[test]
fn a_failed_image_is_missing_and_mismatches_are_errors() {
    let (_, missing) = merge(vec![record("1.0.0", &[("beacon", "sha256:a")])], &planned()).unwrap();
    assert_eq!(missing, ["beaconctl"]);
    let other_version = vec![record("1.0.0", &[("beacon", "sha256:a")]), record("1.0.1", &[("beaconctl", "sha256:b")])];
    let error = merge(other_version, &planned()).unwrap_err().to_string();
    assert!(error.contains("1.0.1") && error.contains("one release"), "{error}");
    let twice = vec![record("1.0.0", &[("beacon", "sha256:a")]), record("1.0.0", &[("beacon", "sha256:x")])];
    assert!(merge(twice, &planned()).unwrap_err().to_string().contains("different digests"));
    assert!(merge(Vec::new(), &planned()).is_err());
}

#[test]
fn independent_packages_of_one_commit_merge_with_their_own_versions() {
    let with_version = |(path, mut record): (PathBuf, ReleaseRecord)| {
        for image in &mut record.images {
            image.version = record.version.clone();
        }
        (path, record)
    };
    let records = vec![
        with_version(record("2.4.1", &[("beacon", "sha256:a")])),
        with_version(record("0.9.1", &[("beaconctl", "sha256:b")])),
    ];
    let (merged, missing) = merge(records, &planned()).unwrap();
    let versions: Vec<&str> = merged.images.iter().map(|i| i.version.as_str()).collect();
    assert_eq!((versions, missing.len()), (vec!["2.4.1", "0.9.1"], 0));
    // Another commit is another release, whatever the versions say.
    let (path, mut other) = with_version(record("0.9.1", &[("beaconctl", "sha256:b")]));
    other.git_sha = "4567def".into();
    let error = merge(vec![with_version(record("2.4.1", &[("beacon", "sha256:a")])), (path, other)], &planned())
        .unwrap_err()
        .to_string();
    assert!(error.contains("4567def") && error.contains("one release"), "{error}");
}
