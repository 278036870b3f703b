//! Unit tests of `Config::from_metadata`: defaults, key-path errors, validation.

use super::*;
use crate::rules::config_scan::DEFAULT_DB_REPOSITORIES;
use crate::rules::toolchain::ToolchainKind;
use serde_json::json;

fn image() -> serde_json::Value {
    json!({
        "package": "beacon",
        "dockerfile": "docker/Dockerfile",
        "platforms": ["linux/amd64", "linux/arm64"],
        "repositories": ["ghcr.io/acme/beacon"],
    })
}

fn with(path: &[&str], value: serde_json::Value) -> serde_json::Value {
    let mut xtask = json!({ "images": { "beacon": image() } });
    let mut node = &mut xtask;
    for key in &path[..path.len() - 1] {
        node = node.as_object_mut().unwrap().entry(*key).or_insert(json!({}));
    }
    node[path[path.len() - 1]] = value;
    json!({ "xtask": xtask })
}

#[test]
fn defaults_fill_in_optional_keys() {
    let config = Config::from_metadata(&json!({ "xtask": { "images": { "beacon": image() } } })).unwrap();
    assert_eq!(config.release_branches, ["main"]);
    assert_eq!(config.edge_branch, "main");
    assert_eq!(config.scan, ScanPolicy::default());
    assert_eq!(config.scan.severities, [Severity::High, Severity::Critical]);
    assert_eq!(config.scan.db_repositories, DEFAULT_DB_REPOSITORIES);
    assert_eq!(max_db_age(&config.scan).unwrap(), std::time::Duration::from_secs(48 * 3600));
    assert!(config.insecure_registries.is_empty());
    assert_eq!(config.signing, SigningConfig { enabled: true, tlog_upload: false });
    let beacon = &config.images["beacon"];
    assert_eq!((beacon.context.as_str(), beacon.target.as_deref()), (".", None));
    assert_eq!(Config::from_metadata(&serde_json::Value::Null).unwrap(), Config::default());
}

#[test]
fn errors_name_the_key_path_and_the_allowed_values() {
    let cases: Vec<(serde_json::Value, &[&str])> = vec![
        (
            with(&["images", "beacon", "platforms"], json!(["linux/amd64", "linux/s390"])),
            &["workspace.metadata.xtask.images.beacon.platforms[1]: unknown variant `linux/s390`", "`linux/riscv64`"],
        ),
        (
            with(&["releases-branches"], json!(["main"])),
            &["workspace.metadata.xtask.releases-branches: unknown field `releases-branches`", "`release-branches`"],
        ),
        (
            with(&["images", "beacon", "dockerfle"], json!("x")),
            &["workspace.metadata.xtask.images.beacon.dockerfle: unknown field `dockerfle`", "`dockerfile`"],
        ),
        (
            with(&["scan", "scanners"], json!(["vuln", "license"])),
            &["workspace.metadata.xtask.scan.scanners[1]: unknown variant `license`", "`misconfig`"],
        ),
        (
            with(&["scan", "severities"], json!(["high"])),
            &["workspace.metadata.xtask.scan.severities[0]: unknown variant `high`", "`CRITICAL`"],
        ),
        (
            with(&["scan", "ignore-unfixed"], json!("yes")),
            &["workspace.metadata.xtask.scan.ignore-unfixed: invalid type"],
        ),
        (
            with(&["signing", "keyless"], json!(true)),
            &["workspace.metadata.xtask.signing.keyless: unknown field `keyless`", "`tlog-upload`"],
        ),
        (with(&["cache", "registry"], json!("Cache")), &["workspace.metadata.xtask.cache.registry: "]),
        (
            with(&["images", "beacon", "platforms"], json!([])),
            &["workspace.metadata.xtask.images.beacon.platforms: must not be empty"],
        ),
        (
            with(&["images", "beacon", "platforms"], json!(["linux/arm64", "linux/arm64"])),
            &["workspace.metadata.xtask.images.beacon.platforms[1]: duplicate \"linux/arm64\""],
        ),
        (with(&["images", "beacon", "repositories"], json!([])), &["images.beacon.repositories: must not be empty"]),
        (
            with(&["images", "beacon", "repositories"], json!(["ghcr.io/acme/beacon", "ghcr.io/Acme/beacon"])),
            &["workspace.metadata.xtask.images.beacon.repositories[1]: \"ghcr.io/Acme/beacon\" is not lower case"],
        ),
        (
            with(&["images", "beacon", "repositories"], json!(["acme/beacon"])),
            &["repositories[0]: \"acme/beacon\" does not start with a registry host"],
        ),
        (
            with(&["images", "beacon", "package"], serde_json::Value::Null),
            &["images.beacon.package: invalid type: null"],
        ),
        (with(&["images", "Beacon"], image()), &["workspace.metadata.xtask.images.Beacon: the image name must be"]),
        (with(&["edge-branch"], json!("")), &["workspace.metadata.xtask.edge-branch: must name a branch"]),
        (
            with(&["insecure-registries"], json!(["registry.lan:5000", "http://registry.lan"])),
            &["workspace.metadata.xtask.insecure-registries[1]: \"http://registry.lan\" is neither", "CIDR"],
        ),
        (
            with(&["scan", "db-repositories"], json!(["127.0.0.1:5959/trivy-db"])),
            &["workspace.metadata.xtask.scan.db-repositories[0]: \"127.0.0.1:5959/trivy-db\" has no tag"],
        ),
        (
            with(&["scan", "db-repositories"], json!(["trivy-db:2"])),
            &["scan.db-repositories[0]: \"trivy-db\" has no registry host"],
        ),
        (with(&["scan", "db-repositories"], json!([])), &["scan.db-repositories: must not be empty"]),
        (
            with(&["scan", "max-db-age"], json!("two days")),
            &["workspace.metadata.xtask.scan.max-db-age: \"two days\" is not a duration"],
        ),
    ];
    for (metadata, expected) in cases {
        let error = Config::from_metadata(&metadata).unwrap_err().to_string();
        for fragment in expected {
            assert!(error.contains(fragment), "{error:?} should contain {fragment:?}");
        }
    }
}

#[test]
fn platforms_serialize_as_oci_strings() {
    for platform in Platform::ALL {
        let json = serde_json::to_value(platform).unwrap();
        assert_eq!(json, platform.as_str());
        assert_eq!(serde_json::from_value::<Platform>(json).unwrap(), platform);
    }
}

#[test]
fn builder_and_smoke_settings_are_checked() {
    let config =
        Config::from_metadata(&with(&["builder"], json!({ "image": "rust:1.90-slim-trixie", "rust": "1.90" })))
            .unwrap();
    let builder = config.builder.unwrap();
    assert_eq!((builder.rust.as_str(), builder.toolchain), ("1.90", ToolchainKind::Rustup));
    let image = &Config::from_metadata(&with(&["images", "beacon", "tzdata"], json!(true))).unwrap().images["beacon"];
    assert!(image.tzdata && image.smoke == SmokeConfig::default() && image.smoke.args == ["--version"]);
    let cases: [(serde_json::Value, &str); 4] = [
        (
            with(&["builder"], json!({ "image": "rust:latest", "rust": "latest" })),
            "workspace.metadata.xtask.builder.rust: must be the Rust version the image has",
        ),
        (
            with(&["builder"], json!({ "image": "rust:1.90", "rust": "1.90", "toolchain": "nix" })),
            "workspace.metadata.xtask.builder.toolchain: unknown variant `nix`",
        ),
        (
            with(&["images", "beacon", "smoke"], json!({ "version-check": false })),
            "workspace.metadata.xtask.images.beacon.smoke.version-check: is false without a reason",
        ),
        (
            with(
                &["images", "beacon", "smoke"],
                json!({ "expect": "x {version}", "version-check": false, "reason": "r" }),
            ),
            "workspace.metadata.xtask.images.beacon.smoke.expect: is set with version-check = false",
        ),
    ];
    for (metadata, expected) in cases {
        let error = Config::from_metadata(&metadata).unwrap_err().to_string();
        assert!(error.contains(expected), "{error:?} should contain {expected:?}");
    }
}

#[test]
fn retry_keys_are_checked() {
    let config = Config::from_metadata(&json!({ "xtask": {} })).unwrap();
    let policy = config.retry.policy().unwrap();
    assert_eq!((policy.attempts, policy.max_wait.as_secs(), policy.budget.as_secs()), (5, 30, 300));
    let set = json!({ "xtask": { "retry": { "attempts": 3, "max-wait": "2s", "budget": "10s" } } });
    let policy = Config::from_metadata(&set).unwrap().retry.policy().unwrap();
    assert_eq!((policy.attempts, policy.max_wait.as_secs(), policy.budget.as_secs()), (3, 2, 10));
    for (retry, expected) in [
        (json!({ "attempts": 0 }), "workspace.metadata.xtask.retry.attempts: must be 1 (never retry) to 20"),
        (json!({ "attempts": 21 }), "workspace.metadata.xtask.retry.attempts: must be 1"),
        (json!({ "max-wait": "soon" }), "workspace.metadata.xtask.retry.max-wait: \"soon\" is not a duration"),
        (json!({ "max-wait": "0s" }), "workspace.metadata.xtask.retry.max-wait: must be longer than 0s"),
        (
            json!({ "budget": "5 fortnights" }),
            "workspace.metadata.xtask.retry.budget: \"5 fortnights\" is not a duration",
        ),
        (
            json!({ "attempt": 3 }),
            "workspace.metadata.xtask.retry.attempt: unknown field `attempt`, expected one of `attempts`",
        ),
        (json!({ "attempts": "3" }), "workspace.metadata.xtask.retry.attempts: invalid type"),
    ] {
        let err = Config::from_metadata(&json!({ "xtask": { "retry": retry } })).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }
}

#[test]
fn files_stay_inside_the_workspace() {
    let cases: [(serde_json::Value, &str); 5] = [
        (
            with(&["images", "beacon", "dockerfile"], json!("/etc/Dockerfile")),
            "workspace.metadata.xtask.images.beacon.dockerfile: \"/etc/Dockerfile\" is an absolute path",
        ),
        (
            with(&["images", "beacon", "dockerfile"], json!("docker/../../outside/Dockerfile")),
            "workspace.metadata.xtask.images.beacon.dockerfile: \"docker/../../outside/Dockerfile\" leads out of the workspace (`..`)",
        ),
        (
            with(&["images", "beacon", "context"], json!("..")),
            "workspace.metadata.xtask.images.beacon.context: \"..\" leads out of the workspace",
        ),
        (with(&["images", "beacon", "context"], json!("")), "workspace.metadata.xtask.images.beacon.context: must name a path"),
        (
            with(&["scan", "ignorefile"], json!("/home/me/.trivyignore")),
            "workspace.metadata.xtask.scan.ignorefile: \"/home/me/.trivyignore\" is an absolute path",
        ),
    ];
    for (metadata, expected) in cases {
        let error = Config::from_metadata(&metadata).unwrap_err().to_string();
        assert!(error.contains(expected), "{error:?} should contain {expected:?}");
    }
    let inside = with(&["images", "beacon", "context"], json!("crates/beacon/./docker"));
    assert!(Config::from_metadata(&inside).is_ok());
}

#[test]
fn two_registries_reading_the_same_credentials_are_refused_naming_both() {
    let mut metadata = with(&["images", "beacon", "repositories"], json!(["registry.example.com/acme/beacon"]));
    let mut tool = image();
    tool["repositories"] = json!(["ghcr.io/acme/tool", "registry-example.com/acme/tool"]);
    metadata["xtask"]["images"]["tool"] = tool;
    let error = Config::from_metadata(&metadata).unwrap_err().to_string();
    for expected in [
        "registry-example.com (workspace.metadata.xtask.images.tool.repositories[1])",
        "registry.example.com (workspace.metadata.xtask.images.beacon.repositories[0])",
        "XTASK_REGISTRY_REGISTRY_EXAMPLE_COM_USERNAME/_PASSWORD",
        "fix it in the root Cargo.toml",
    ] {
        assert!(error.contains(expected), "{error:?} should contain {expected:?}");
    }
    let mut cache = with(&["cache", "registry"], json!("registry-lan:5000/acme/cache"));
    cache["xtask"]["images"]["beacon"]["repositories"] = json!(["registry.lan:5000/acme/beacon"]);
    let error = Config::from_metadata(&cache).unwrap_err().to_string();
    assert!(
        error.contains("registry-lan:5000 (workspace.metadata.xtask.cache.registry) and registry.lan:5000"),
        "{error}"
    );
}

#[test]
fn insecure_registries_refuse_wide_and_public_ranges() {
    for (entry, expected) in [
        ("0.0.0.0/0", "insecure-registries[0]: \"0.0.0.0/0\" would allow plain HTTP"),
        ("10.0.0.0/8", "insecure-registries[0]: \"10.0.0.0/8\" would allow plain HTTP"),
    ] {
        let error = Config::from_metadata(&with(&["insecure-registries"], json!([entry]))).unwrap_err().to_string();
        assert!(error.contains(expected), "{error}");
    }
    assert!(Config::from_metadata(&with(&["insecure-registries"], json!(["10.1.0.0/16", "registry.lan:5000"]))).is_ok());
}

#[test]
fn system_packages_and_the_service_contract_are_checked() {
    let beacon = |key: &str, value: serde_json::Value| Config::from_metadata(&with(&["images", "beacon", key], value));
    let image = beacon("system-packages", json!(["libfoo-dev", "libbar2-dev"])).unwrap().images["beacon"].clone();
    assert_eq!(image.system_packages.unwrap(), ["libfoo-dev", "libbar2-dev"]);
    assert_eq!(beacon("system-packages", json!([])).unwrap().images["beacon"].system_packages, Some(Vec::new()));
    let image = beacon("port", json!(9443)).unwrap().images["beacon"].clone();
    assert_eq!((image.port, image.healthcheck, image.no_healthcheck), (Some(9443), None, None));
    let error = |key: &str, value: serde_json::Value| beacon(key, value).unwrap_err().to_string();
    let system = error("system-packages", json!(["libfoo-dev:arm64"]));
    assert!(system.starts_with("workspace.metadata.xtask.images.beacon.system-packages[0]: \"libfoo-dev:arm64\""));
    assert!(system.contains("no `:arch`"), "{system}");
    assert!(error("system-packages", json!(["a-dev", "a-dev"])).contains("system-packages[1]: duplicate \"a-dev\""));
    assert!(error("port", json!(0)).contains("images.beacon.port: must be a port from 1 to 65535"));
    assert!(error("port", json!(70000)).contains("images.beacon.port: invalid value"));
    assert!(error("healthcheck", json!([])).contains("images.beacon.healthcheck: must name the command"));
    assert!(error("no-healthcheck", json!(" ")).contains("images.beacon.no-healthcheck: must say why"));
    let mut both = with(&["images", "beacon", "healthcheck"], json!(["/app", "health"]));
    both["xtask"]["images"]["beacon"]["no-healthcheck"] = json!("none");
    let both = Config::from_metadata(&both).unwrap_err().to_string();
    assert!(both.contains("images.beacon.no-healthcheck: is set with healthcheck: keep one of them"), "{both}");
    let mut runtime = with(&["images", "beacon", "port"], json!(9443));
    runtime["xtask"]["images"]["beacon"]["target"] = json!("runtime");
    let runtime = Config::from_metadata(&runtime).unwrap_err().to_string();
    assert!(
        runtime.contains("images.beacon.port: applies to the service target, and this image builds target \"runtime\""),
        "{runtime}"
    );
}

#[test]
fn annotations_and_size_budgets_are_checked() {
    let annotations =
        |value: serde_json::Value| Config::from_metadata(&with(&["images", "beacon", "annotations"], value));
    let ok = annotations(json!({ "org.opencontainers.image.vendor": "ACME", "com.acme.team": "platform" })).unwrap();
    assert_eq!(ok.images["beacon"].annotations["com.acme.team"], "platform");
    for (value, expected) in [
        (
            json!({ "org.opencontainers.image.version": "9" }),
            "\"org.opencontainers.image.version\" follows the release",
        ),
        (json!({ "org.opencontainers.image.created": "" }), "\"org.opencontainers.image.created\" follows the release"),
        (json!({ "com.acme team": "x" }), "\"com.acme team\" is not an annotation key"),
    ] {
        let error = annotations(value).unwrap_err().to_string();
        assert!(error.starts_with("workspace.metadata.xtask.images.beacon.annotations: "), "{error}");
        assert!(error.contains(expected), "{expected:?} in {error}");
    }
    let max_size = |value: &str| Config::from_metadata(&with(&["images", "beacon", "max-size"], json!(value)));
    assert_eq!(max_size("20MiB").unwrap().images["beacon"].max_size.as_deref(), Some("20MiB"));
    let error = max_size("20 megs").unwrap_err().to_string();
    assert!(error.starts_with("workspace.metadata.xtask.images.beacon.max-size: \"20 megs\" has the unknown unit"));
    assert!(error.contains("\"20MiB\"") && error.contains("fix it in the root Cargo.toml"), "{error}");
}
