//! Unit tests of `plan::compute`: contexts, references, `--registry`, cache, steps, the JSON shape.

use super::*;
use crate::rules::context::CiEnv;
use serde_json::json;

const SHA: &str = "0123abcdef0123abcdef0123abcdef0123abcdef";

/// Inputs for a workspace at `version` whose repository has `release_tags` (also used by `retract`).
pub(crate) fn inputs(version: &str, release_tags: &[&str]) -> Inputs {
    let metadata = json!({ "xtask": {
        "images": { "beacon": {
            "package": "beacon",
            "dockerfile": "docker/Dockerfile",
            "target": "runtime",
            "platforms": ["linux/amd64", "linux/arm64"],
            "repositories": ["ghcr.io/acme/beacon", "docker.io/acme/beacon"],
        } },
        "signing": { "enabled": true },
    } });
    let package = PackageMeta {
        description: Some("A small HTTP service".into()),
        license: Some("MIT".into()),
        repository: Some("https://github.com/acme/beacon".into()),
        homepage: None,
        documentation: None,
        authors: Vec::new(),
        binaries: vec!["beacon".into()],
    };
    Inputs {
        version: Version::parse(version).unwrap(),
        versioning: Versioning::default(),
        config: Config::from_metadata(&metadata).unwrap(),
        packages: BTreeMap::from([("beacon".to_string(), package)]),
        git: GitState {
            sha: SHA.into(),
            branch: Some("main".into()),
            release_tags: release_tags.iter().map(|tag| tag.to_string()).collect(),
            commit_time: 1_709_208_000,
            ..GitState::default()
        },
        ci: CiEnv::default(),
        ref_override: None,
        registry: None,
        only_images: Vec::new(),
        scan_changes: Default::default(),
        toolchain: Default::default(),
        dependency_graphs: Default::default(),
    }
}

fn with_ref(mut inputs: Inputs, git_ref: &str) -> Inputs {
    inputs.ref_override = Some(git_ref.into());
    inputs
}

fn tags_of(plan: &Plan) -> Vec<&str> {
    plan.images[0].tags.iter().map(String::as_str).collect()
}

#[test]
fn hotfix_tag_release_keeps_latest_on_the_newer_line() {
    let plan = compute(&with_ref(inputs("1.9.1", &["v2.0.1", "v1.9.0"]), "refs/tags/v1.9.1")).unwrap();
    assert_eq!((plan.context.kind, plan.push), (Kind::Tag, true));
    let image = &plan.images[0];
    assert_eq!(image.versioned_tags, ["ghcr.io/acme/beacon:1.9.1", "docker.io/acme/beacon:1.9.1"]);
    assert_eq!(
        image.floating_tags,
        ["ghcr.io/acme/beacon:1.9", "ghcr.io/acme/beacon:1", "docker.io/acme/beacon:1.9", "docker.io/acme/beacon:1"]
    );
    assert_eq!(image.tags[..2], image.versioned_tags[..]);
    assert_eq!(image.local_ref, "ghcr.io/acme/beacon:1.9.1");
    use Step::*;
    assert_eq!(plan.steps, [Preflight, Build, Smoke, Scan, PushVersioned, Verify, Sign, PushFloating, Record]);
}

#[test]
fn release_candidates_push_only_their_own_tag() {
    let plan = compute(&with_ref(inputs("1.1.0-rc.1", &["v1.0.0"]), "refs/tags/v1.1.0-rc.1")).unwrap();
    assert_eq!(tags_of(&plan), ["ghcr.io/acme/beacon:1.1.0-rc.1", "docker.io/acme/beacon:1.1.0-rc.1"]);
    assert!(!plan.steps.contains(&Step::PushFloating));
}

#[test]
fn local_runs_release_the_workspace_version() {
    let plan = compute(&inputs("1.2.3", &["v1.2.2"])).unwrap();
    assert_eq!((plan.context.kind, plan.context.git_ref.as_str()), (Kind::Local, "refs/heads/main"));
    assert!(tags_of(&plan).contains(&"ghcr.io/acme/beacon:latest"));
    let mut tagged = inputs("1.2.3", &["v1.2.3"]);
    tagged.git.tags_at_head = vec!["v1.2.3".into()];
    let plan = compute(&tagged).unwrap();
    assert_eq!((plan.context.kind, plan.git.tag_at_head.as_deref()), (Kind::Tag, Some("v1.2.3")));
}

#[test]
fn edge_pull_request_and_branch_builds() {
    let edge = compute(&with_ref(inputs("1.2.3", &[]), "refs/heads/main")).unwrap();
    assert_eq!(tags_of(&edge)[..2], ["ghcr.io/acme/beacon:edge", "ghcr.io/acme/beacon:sha-0123abc"]);
    assert_eq!(edge.images[0].local_ref, "ghcr.io/acme/beacon:sha-0123abc");
    assert!(edge.images[0].floating_tags.is_empty());
    assert!(!edge.steps.contains(&Step::PushFloating));

    for (git_ref, local_ref, kind) in [
        ("refs/pull/7/merge", "ghcr.io/acme/beacon:pr-7", Kind::PullRequest),
        ("refs/heads/feature", "ghcr.io/acme/beacon:sha-0123abc", Kind::Branch),
    ] {
        let plan = compute(&with_ref(inputs("1.2.3", &[]), git_ref)).unwrap();
        assert_eq!((plan.context.kind, plan.push), (kind, false), "{git_ref}");
        assert!(plan.images[0].tags.is_empty(), "{git_ref}");
        assert_eq!(plan.images[0].local_ref, local_ref);
        assert_eq!(plan.steps, [Step::Preflight, Step::Build, Step::Smoke, Step::Scan, Step::Record]);
    }
}

#[test]
fn mismatched_release_tags_are_errors() {
    let error = compute(&with_ref(inputs("1.2.3", &[]), "refs/tags/v1.2.4")).unwrap_err().to_string();
    assert!(error.contains("v1.2.4") && error.contains("1.2.3"), "{error}");
    let mut tagged = inputs("1.2.3", &[]);
    tagged.git.tags_at_head = vec!["v1.2.2".into()];
    let error = compute(&tagged).unwrap_err().to_string();
    assert!(error.contains("v1.2.2") && error.contains("1.2.3"), "{error}");
    let error = compute(&inputs("1.2.3+meta", &[])).unwrap_err().to_string();
    assert!(error.contains("build metadata"), "{error}");
}

#[test]
fn retracted_versions_are_passed_over_and_never_released_again() {
    let mut after = inputs("1.2.4", &["v1.2.3", "v1.2.2", "v1.3.0"]);
    after.git.retracted_tags = vec!["retracted/v1.3.0".into()];
    let plan = compute(&after).unwrap();
    let floating = &plan.images[0].floating_tags;
    assert_eq!(floating[..3], ["ghcr.io/acme/beacon:1.2", "ghcr.io/acme/beacon:1", "ghcr.io/acme/beacon:latest"]);
    let mut again = with_ref(inputs("1.3.0", &["v1.3.0"]), "refs/tags/v1.3.0");
    again.git.retracted_tags = vec!["retracted/v1.3.0".into()];
    let error = compute(&again).unwrap_err().to_string();
    assert!(error.contains("1.3.0 was retracted") && error.contains("bump patch"), "{error}");
    again.ref_override = Some("refs/heads/main".into());
    assert_eq!(compute(&again).unwrap().context.kind, Kind::Edge, "edge builds of a retracted version still run");
}

#[test]
fn registry_override_rewrites_repositories_and_cache() {
    let mut rewritten = inputs("1.2.3", &[]);
    rewritten.registry = Some("localhost:5000/acme".into());
    rewritten.config.cache.registry = Some("ghcr.io/acme/cache".into());
    let plan = compute(&rewritten).unwrap();
    let image = &plan.images[0];
    assert_eq!(image.repositories, ["localhost:5000/acme/beacon"]);
    assert_eq!(image.versioned_tags, ["localhost:5000/acme/beacon:1.2.3"]);
    assert_eq!(image.local_ref, "localhost:5000/acme/beacon:1.2.3");
    assert!(image.tags.iter().all(|tag| tag.starts_with("localhost:5000/acme/beacon:")));
    assert_eq!(image.cache_from, ["type=registry,ref=localhost:5000/acme/cache/beacon:buildcache"]);
    rewritten.registry = Some("not a registry".into());
    assert!(compute(&rewritten).unwrap_err().to_string().contains("--registry"));
    assert_eq!(compute(&rewritten_to("ghcr.io/other")).unwrap().registry_override.as_deref(), Some("ghcr.io/other"));
}

fn rewritten_to(registry: &str) -> Inputs {
    let mut inputs = inputs("1.2.3", &[]);
    inputs.registry = Some(registry.into());
    inputs
}

#[test]
fn an_override_that_would_read_a_configured_registry_s_credentials_is_refused() {
    // A typo of docker.io: XTASK_REGISTRY_DOCKER_IO_* (meant for docker.io) would log in to it.
    let error = compute(&rewritten_to("docker-io/acme")).unwrap_err().to_string();
    assert!(error.starts_with("docker-io (--registry or XTASK_REGISTRY) and docker.io (workspace.metadata.xtask.images.beacon.repositories[1])"), "{error}");
    assert!(error.contains("XTASK_REGISTRY_DOCKER_IO_USERNAME/_PASSWORD"), "{error}");
    assert_eq!(compute(&inputs("1.2.3", &[])).unwrap().registry_override, None);
}

#[test]
fn cache_refs_by_environment() {
    let local = compute(&inputs("1.2.3", &[])).unwrap();
    assert!(local.images[0].cache_from.is_empty() && local.images[0].cache_to.is_empty(), "the engine's own cache");

    let mut ci = with_ref(inputs("1.2.3", &[]), "refs/heads/main");
    ci.ci.github_actions = true;
    let without_cache_service = compute(&ci).unwrap();
    assert_eq!(without_cache_service.images[0].cache_from, local.images[0].cache_from);
    ci.ci.gha_cache = true;
    let gha = compute(&ci).unwrap();
    assert_eq!(gha.images[0].cache_from, ["type=gha,scope=beacon"]);
    assert_eq!(
        gha.images[0].cache_to,
        ["type=gha,scope=beacon,mode=max,ignore-error=true,compression=zstd,compression-level=1"]
    );

    ci.config.cache.registry = Some("ghcr.io/acme/cache".into());
    let registry = compute(&ci).unwrap();
    assert_eq!(registry.images[0].cache_from, ["type=registry,ref=ghcr.io/acme/cache/beacon:buildcache"]);
    assert_eq!(
        registry.images[0].cache_to,
        ["type=registry,ref=ghcr.io/acme/cache/beacon:buildcache,mode=max,ignore-error=true,compression=zstd,compression-level=1"]
    );
}

#[test]
fn configuration_problems_are_errors() {
    let mut unknown_package = inputs("1.2.3", &[]);
    unknown_package.config.images.get_mut("beacon").unwrap().package = "becaon".into();
    let error = compute(&unknown_package).unwrap_err().to_string();
    assert!(error.contains("images.beacon.package") && error.contains("`becaon`"), "{error}");
    let mut no_images = inputs("1.2.3", &[]);
    no_images.config.images.clear();
    assert!(compute(&no_images).unwrap_err().to_string().contains("no images configured"));
    let mut several_binaries = inputs("1.2.3", &[]);
    several_binaries.packages.get_mut("beacon").unwrap().binaries.push("beacon-admin".into());
    let error = compute(&several_binaries).unwrap_err().to_string();
    assert!(error.contains("several binaries") && error.contains("binary = "), "{error}");
    several_binaries.config.images.get_mut("beacon").unwrap().binary = Some("beacon-admin".into());
    assert_eq!(compute(&several_binaries).unwrap().images[0].binary, "beacon-admin");
    several_binaries.config.images.get_mut("beacon").unwrap().binary = Some("beacn".into());
    let error = compute(&several_binaries).unwrap_err().to_string();
    assert!(error.contains("images.beacon.binary") && error.contains("no binary `beacn`"), "{error}");
    let mut library = inputs("1.2.3", &[]);
    library.packages.get_mut("beacon").unwrap().binaries.clear();
    assert!(compute(&library).unwrap_err().to_string().contains("has no binary target"));
    let mut only = inputs("1.2.3", &[]);
    only.only_images = vec!["beecon".into()];
    let error = compute(&only).unwrap_err().to_string();
    assert!(error.contains("--image beecon") && error.contains("[\"beacon\"]"), "{error}");
    only.only_images = vec!["beacon".into()];
    let one = compute(&only).unwrap();
    assert_eq!((one.images.len(), one.out_dir.as_str()), (1, "target/xtask/image-beacon"));
    assert_eq!(compute(&inputs("1.2.3", &[])).unwrap().out_dir, "target/xtask");
    let mut unsigned = inputs("1.2.3", &[]);
    unsigned.config.signing.enabled = false;
    assert!(!compute(&unsigned).unwrap().steps.contains(&Step::Sign));
}

#[test]
fn json_shape_is_stable() {
    let plan = compute(&with_ref(inputs("1.2.3", &[]), "refs/tags/v1.2.3")).unwrap();
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["version"], "1.2.3");
    assert_eq!(json["context"], json!({ "kind": "tag", "ref": "refs/tags/v1.2.3" }));
    assert_eq!(json["git"], json!({ "sha": SHA, "short_sha": "0123abc", "tag_at_head": null, "dirty": false }));
    assert_eq!(
        (json["source_date_epoch"].as_i64(), json["created"].as_str()),
        (Some(1_709_208_000), Some("2024-02-29T12:00:00Z"))
    );
    let image = &json["images"][0];
    assert_eq!(image["platforms"], json!(["linux/amd64", "linux/arm64"]));
    assert_eq!(image["target"], "runtime");
    assert_eq!(image["labels"]["org.opencontainers.image.created"], "2024-02-29T12:00:00Z");
    assert_eq!(image["labels"], image["annotations"]);
    assert_eq!(json["scan"]["severities"], json!(["HIGH", "CRITICAL"]));
    assert_eq!(
        json["scan"]["db-repositories"],
        json!(["mirror.gcr.io/aquasec/trivy-db:2", "ghcr.io/aquasecurity/trivy-db:2"])
    );
    assert_eq!(json["scan"]["max-db-age"], "48h");
    assert_eq!(json["scan_overrides"], json!([]));
    assert_eq!(json["insecure_registries"], json!([]));
    assert_eq!(json["signing"], json!({ "enabled": true, "tlog-upload": false }));
    assert_eq!(json["steps"][4], "push-versioned");
    assert_eq!(json["matrix"], json!({ "image": ["beacon"] }));
    let variants = json["variant_matrix"]["include"].as_array().unwrap();
    let jobs: Vec<(&str, &str)> =
        variants.iter().map(|v| (v["image"].as_str().unwrap(), v["platform"].as_str().unwrap())).collect();
    assert_eq!(jobs, [("beacon", "linux/amd64"), ("beacon", "linux/arm64")], "one job per image × platform");
    assert_eq!(json["variants_per_job"], 1);
    assert_eq!(json["versioning"], json!({ "mode": "lockstep", "tag_pattern": "v{version}" }));
    assert_eq!((&image["version"], &image["release_tag"]), (&json!("1.2.3"), &json!("v1.2.3")));
    let keys: Vec<&String> = image.as_object().unwrap().keys().collect();
    let expected = [
        "annotations",
        "binary",
        "builder",
        "cache_from",
        "cache_to",
        "context",
        "dockerfile",
        "floating_tags",
        "labels",
        "local_ref",
        "max_size",
        "name",
        "package",
        "platforms",
        "release_tag",
        "repositories",
        "service",
        "smoke",
        "system",
        "tags",
        "target",
        "tzdata",
        "version",
        "versioned_tags",
    ];
    assert_eq!(keys, expected);
    let round_trip: Plan = serde_json::from_value(json).unwrap();
    assert_eq!(round_trip, plan);
    let text = crate::rules::plan_text::render(&plan);
    assert!(text.contains("docker.io/acme/beacon:latest") && text.contains("push-floating"), "{text}");
    assert_eq!(
        json_builder(&plan),
        serde_json::json!({
            "image": "debian:trixie-slim", "rust": "1.85.1", "toolchain": "debian", "required": null,
            "because": "nothing in the workspace asks for a newer Rust", "problem": null
        })
    );
    assert!(text.contains("builder    debian:trixie-slim (Rust 1.85.1; nothing in the workspace"), "{text}");
}

fn json_builder(plan: &Plan) -> serde_json::Value {
    serde_json::to_value(plan).unwrap()["images"][0]["builder"].clone()
}

#[test]
fn scan_overrides_give_the_effective_policy_marked_as_overridden() {
    use crate::rules::config::Scanner;
    let mut overridden = inputs("1.2.3", &[]);
    overridden.scan_changes.scanners = Some(vec![Scanner::Secret, Scanner::Misconfig]);
    overridden.config.insecure_registries = vec!["198.18.0.2:5000".into()];
    let plan = compute(&overridden).unwrap();
    assert_eq!(plan.scan.scanners, [Scanner::Secret, Scanner::Misconfig]);
    assert_eq!(plan.scan_overrides.len(), 1);
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json["scan_overrides"],
        json!([{ "setting": "scanners", "by": "--scanners", "configured": ["vuln", "secret", "misconfig"] }])
    );
    let text = crate::rules::plan_text::render(&plan);
    assert!(text.contains("secret, misconfig (override: --scanners; configured vuln, secret, misconfig)"), "{text}");
    assert!(text.contains("no vulnerability DB (no vuln scanner)"), "{text}");
    assert!(text.contains("insecure  198.18.0.2:5000"), "{text}");

    let defaults = crate::rules::plan_text::render(&compute(&inputs("1.2.3", &[])).unwrap());
    assert!(
        defaults.contains("vulnerability DB from mirror.gcr.io/aquasec/trivy-db:2, then ghcr.io/aquasecurity/trivy-db:2; at most 48h old"),
        "{defaults}"
    );
    assert!(!defaults.contains("override") && !defaults.contains("insecure"), "{defaults}");
}

#[test]
fn the_dependency_graph_decides_the_system_libraries_and_the_plan_says_why() {
    let mut with_graph = inputs("1.2.3", &[]);
    let linked = "0beacon v1.2.3|\n1native-tls v0.2.18|\n2openssl-sys v0.9.118|\n";
    let graph = crate::rules::dependency_graph::parse(linked, "").unwrap();
    with_graph.dependency_graphs.insert("beacon".into(), Ok(graph));
    let plan = compute(&with_graph).unwrap();
    let system = &plan.images[0].system;
    assert_eq!(system.packages, ["libssl-dev", "libzstd-dev", "zlib1g-dev"]);
    assert_eq!(system.linkage, crate::rules::system_libraries::Linkage::Static);
    let text = crate::rules::plan_text::render(&plan);
    assert!(
        text.contains("  system     libssl-dev, libzstd-dev, zlib1g-dev for each platform, static linked\n"),
        "{text}"
    );
    assert!(
        text.contains("openssl-sys 0.9.118: libssl-dev, zlib1g-dev, libzstd-dev (beacon → native-tls → openssl-sys;")
    );
    assert_eq!(plan.images[0].service, None, "target runtime: no service contract");

    with_graph.dependency_graphs.insert("beacon".into(), Err("`cargo tree -p beacon` failed: no lock".into()));
    let plan = compute(&with_graph).unwrap();
    let problem = plan.images[0].system.problem.as_deref().unwrap();
    assert!(problem.starts_with("workspace.metadata.xtask.images.beacon: the dependency graph"), "{problem}");
    assert!(
        crate::rules::plan_text::render(&plan).contains("             PROBLEM: workspace.metadata.xtask.images.beacon")
    );
    let none = crate::rules::plan_text::render(&compute(&inputs("1.2.3", &[])).unwrap());
    assert!(none.contains("  system     none (no system library)\n"), "{none}");
}

#[test]
fn configured_annotations_reach_labels_and_annotations_and_the_budget_is_planned() {
    let mut inputs = inputs("1.2.3", &[]);
    let beacon = inputs.config.images.get_mut("beacon").unwrap();
    beacon.annotations = BTreeMap::from([
        ("org.opencontainers.image.vendor".to_owned(), "ACME".to_owned()),
        ("org.opencontainers.image.url".to_owned(), String::new()),
        ("com.acme.team".to_owned(), "platform".to_owned()),
    ]);
    beacon.max_size = Some("20MiB".to_owned());
    let plan = compute(&inputs).unwrap();
    let image = &plan.images[0];
    assert_eq!(image.labels, image.annotations, "labels and annotations stay one map");
    assert_eq!(image.annotations["org.opencontainers.image.vendor"], "ACME");
    assert_eq!(image.annotations["com.acme.team"], "platform");
    assert!(!image.annotations.contains_key("org.opencontainers.image.url"), "\"\" removes a key");
    assert_eq!(image.annotations["org.opencontainers.image.version"], "1.2.3");
    assert_eq!(image.max_size, Some(20 << 20));
    let text = crate::rules::plan_text::render(&plan);
    assert!(text.contains("max-size   20.0 MiB on each platform, as pushed (20971520 bytes)"), "{text}");
    assert_eq!(compute(&self::inputs("1.2.3", &[])).unwrap().images[0].max_size, None);
}
