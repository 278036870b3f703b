//! Unit tests of `fanout`: the matrix, variant and merge plans, admission, and the index bytes.

use super::*;
use crate::rules::plan::compute;
use crate::rules::plan::tests::inputs;

fn plan() -> Plan {
    let mut inputs = inputs("1.2.3", &[]);
    inputs.ref_override = Some("refs/tags/v1.2.3".into());
    inputs.ci.gha_cache = true;
    compute(&inputs).unwrap()
}

fn candidate(plan: &Plan, platform: &str) -> Candidate {
    Candidate {
        source: format!("variants/{}", slug(platform)),
        image: "beacon".into(),
        platform: platform.into(),
        git_sha: plan.git.sha.clone(),
        version: "1.2.3".into(),
        passed: true,
        policy: plan.scan.clone(),
        db_repository: Some("ghcr.io/aquasecurity/trivy-db:2".into()),
    }
}

#[test]
fn the_matrix_has_one_job_per_image_and_platform() {
    let plan = plan();
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["variants_per_job"], 1);
    assert_eq!(
        json["variant_matrix"],
        serde_json::json!({ "include": [
            { "image": "beacon", "platform": "linux/amd64", "runner": "ubuntu-24.04", "artifact": "variant-beacon-linux-amd64" },
            { "image": "beacon", "platform": "linux/arm64", "runner": "ubuntu-24.04", "artifact": "variant-beacon-linux-arm64" },
        ] })
    );
    assert_eq!(slug("linux/arm/v7"), "linux-arm-v7");
}

#[test]
fn a_variant_plan_builds_one_platform_and_pushes_by_digest_a_merge_plan_publishes() {
    let plan = plan();
    let variant = variant_plan(&plan, "linux/arm64").unwrap();
    assert_eq!(variant.images[0].platforms, ["linux/arm64"]);
    assert_eq!(variant.out_dir, "target/xtask/variant-beacon-linux-arm64");
    let names: Vec<&str> = variant.steps.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["preflight", "build", "smoke", "scan", "push-digest", "record-variant"]);
    let (from, to) = (&variant.images[0].cache_from, &variant.images[0].cache_to);
    assert_eq!(from.first().map(String::as_str), Some("type=gha,scope=beacon-linux-arm64"), "{from:?}");
    assert_eq!(from[1..], plan.images[0].cache_from, "then the image's shared cache");
    assert!(to[0].starts_with("type=gha,scope=beacon-linux-arm64,mode=max"), "{to:?}");
    let err = variant_plan(&plan, "linux/s390x").unwrap_err().to_string();
    assert!(err.contains("workspace.metadata.xtask.images.beacon.platforms"), "{err}");

    let merge = merge_plan(&plan);
    let names: Vec<&str> = merge.steps.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["preflight", "merge", "push-versioned", "verify", "sign", "push-floating", "record"]);
    assert_eq!(merge.out_dir, "target/xtask/merge");
    assert_eq!(merge.images, plan.images, "the merge publishes every configured platform");
}

#[test]
fn admission_takes_every_platform_in_order_and_names_each_problem() {
    let plan = plan();
    let image = &plan.images[0];
    let (amd, arm) = (candidate(&plan, "linux/amd64"), candidate(&plan, "linux/arm64"));
    let both = [arm.clone(), amd.clone()];
    let admitted = admit(image, &plan, &both).unwrap();
    assert_eq!(admitted.iter().map(|c| c.platform.as_str()).collect::<Vec<_>>(), ["linux/amd64", "linux/arm64"]);

    let err = admit(image, &plan, std::slice::from_ref(&amd)).unwrap_err().to_string();
    assert!(err.contains("nothing was tagged") && err.contains("beacon linux/arm64: no variant record"), "{err}");

    let mut bad = arm.clone();
    bad.passed = false;
    bad.git_sha = "f".repeat(40);
    bad.policy.severities.clear();
    let err = admit(image, &plan, &[amd.clone(), bad]).unwrap_err().to_string();
    assert!(err.contains("beacon linux/arm64: its scan failed"), "{err}");
    assert!(err.contains(&format!("built from commit {}", "f".repeat(40))), "{err}");
    assert!(err.contains("another policy"), "{err}");
    assert!(!err.contains("linux/amd64"), "only the culprit is named: {err}");

    let mut other_db = arm.clone();
    other_db.db_repository = Some("mirror.example/trivy-db:2".into());
    let err = admit(image, &plan, &[amd.clone(), other_db]).unwrap_err().to_string();
    assert!(err.contains("different sources"), "{err}");

    let err = admit(image, &plan, &[amd.clone(), arm.clone(), arm]).unwrap_err().to_string();
    assert!(err.contains("beacon linux/arm64: 2 records"), "{err}");
}

#[test]
fn the_index_is_buildkits_bytes() {
    // The index a `docker buildx build --platform linux/amd64,linux/arm64 --output type=oci` wrote
    // (buildx 0.13, BuildKit of dockerd 26): digest sha256:e65c0c22…, 647 bytes.
    let expected = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "digest": "sha256:6524cc7aca28b36553ef6242bf602aaaf7583d5b6cde77a95bc1488608dff561",
      "size": 1302,
      "platform": {
        "architecture": "amd64",
        "os": "linux"
      }
    },
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "digest": "sha256:a1bf0f4d55bf0224d37182f14e2be4d20f83497d29809fd68f7332e155c5bed8",
      "size": 1302,
      "platform": {
        "architecture": "arm64",
        "os": "linux"
      }
    }
  ]
}"#;
    let entry = |digest: &str, platform: &str| IndexEntry {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: digest.into(),
        size: 1302,
        platform: IndexPlatform::parse(platform).unwrap(),
    };
    let entries = [
        entry("sha256:6524cc7aca28b36553ef6242bf602aaaf7583d5b6cde77a95bc1488608dff561", "linux/amd64"),
        entry("sha256:a1bf0f4d55bf0224d37182f14e2be4d20f83497d29809fd68f7332e155c5bed8", "linux/arm64"),
    ];
    let bytes = index_bytes(&entries, &BTreeMap::new());
    assert_eq!(bytes, expected);
    assert_eq!(bytes.len(), 647);

    let annotated = index_bytes(&entries[..1], &BTreeMap::from([("d".to_owned(), "a <b> & c".to_owned())]));
    assert!(
        annotated.ends_with("  ],\n  \"annotations\": {\n    \"d\": \"a \\u003cb\\u003e \\u0026 c\"\n  }\n}"),
        "{annotated}"
    );
    let v7 = serde_json::to_string(&IndexPlatform::parse("linux/arm/v7").unwrap()).unwrap();
    assert_eq!(v7, r#"{"architecture":"arm","os":"linux","variant":"v7"}"#);
    assert!(IndexPlatform::parse("linux").is_err());
}

#[test]
fn index_annotations_are_the_plans_keys_the_manifests_carry() {
    let plan = plan();
    let image = &plan.images[0];
    let parsed: BTreeMap<String, String> = image.annotations.clone();
    assert!(!parsed.is_empty());
    assert_eq!(index_annotations(image, &[parsed.clone(), parsed.clone()]), parsed);
    let literal: BTreeMap<String, String> =
        image.annotations.iter().map(|(k, v)| (format!("index,manifest:{k}"), v.clone())).collect();
    assert!(index_annotations(image, &[literal.clone(), literal]).is_empty());
}
