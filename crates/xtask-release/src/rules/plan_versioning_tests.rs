//! Unit tests of `plan::compute` in independent versioning: each image at its package's version,
//! release tags, floating tags and retractions read per package, a package tag selecting its images.

use super::*;
use crate::rules::labels::PackageMeta;
use serde_json::json;

const SHA: &str = "0123abcdef0123abcdef0123abcdef0123abcdef";

/// Two released packages (`tool` 2.4.1 with two images, `agent` 0.9.1) at their own versions.
fn inputs(release_tags: &[&str], retracted: &[&str]) -> Inputs {
    let image = |package: &str| {
        json!({ "package": package, "dockerfile": "Dockerfile", "platforms": ["linux/amd64"],
                "repositories": [format!("ghcr.io/acme/{package}")] })
    };
    let metadata = json!({ "xtask": { "images": {
        "tool": image("tool"), "tool-debug": image("tool"), "agent": image("agent"),
    } } });
    let meta = |binary: &str| PackageMeta {
        description: None,
        license: Some("MIT".into()),
        repository: Some("https://github.com/acme/tool".into()),
        homepage: None,
        documentation: None,
        authors: Vec::new(),
        binaries: vec![binary.into()],
    };
    let list = |tags: &[&str]| tags.iter().map(|tag| tag.to_string()).collect::<Vec<_>>();
    Inputs {
        version: Version::new(0, 0, 0),
        versioning: Versioning {
            mode: Mode::Independent,
            tag_pattern: TagPattern::PackageV,
            packages: BTreeMap::from([
                ("tool".to_string(), Version::new(2, 4, 1)),
                ("agent".to_string(), Version::new(0, 9, 1)),
            ]),
        },
        config: Config::from_metadata(&metadata).unwrap(),
        toolchain: Default::default(),
        dependency_graphs: Default::default(),
        packages: BTreeMap::from([("tool".to_string(), meta("tool")), ("agent".to_string(), meta("agent"))]),
        git: GitState {
            sha: SHA.into(),
            branch: Some("main".into()),
            release_tags: list(release_tags),
            retracted_tags: list(retracted),
            commit_time: 1_709_208_000,
            ..GitState::default()
        },
        ci: CiEnv::default(),
        ref_override: None,
        registry: None,
        only_images: Vec::new(),
        scan_changes: Default::default(),
    }
}

fn image<'p>(plan: &'p Plan, name: &str) -> &'p ImagePlan {
    plan.images.iter().find(|image| image.name == name).unwrap()
}

#[test]
fn each_image_releases_its_package_version_with_that_package_floating_tags() {
    // agent 1.0.0 exists, so agent 0.9.1 moves only 0.9; tool's own tags are the only ones tool reads
    let plan = compute(&inputs(&["tool-v2.4.0", "agent-v1.0.0", "v9.9.9"], &[])).unwrap();
    assert_eq!((plan.versioning.mode, plan.versioning.tag_pattern), (Mode::Independent, TagPattern::PackageV));
    let (tool, agent) = (image(&plan, "tool"), image(&plan, "agent"));
    assert_eq!((tool.version.to_string(), tool.release_tag.as_str()), ("2.4.1".into(), "tool-v2.4.1"));
    assert_eq!(
        tool.tags,
        ["ghcr.io/acme/tool:2.4.1", "ghcr.io/acme/tool:2.4", "ghcr.io/acme/tool:2", "ghcr.io/acme/tool:latest"]
    );
    assert_eq!(agent.tags, ["ghcr.io/acme/agent:0.9.1", "ghcr.io/acme/agent:0.9"]);
    assert_eq!(agent.labels["org.opencontainers.image.version"], "0.9.1");
    assert_eq!(image(&plan, "tool-debug").version, tool.version, "two images of one package agree");
    assert_eq!(plan.version, Version::new(2, 4, 1), "several versions: the plan's is the highest");
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["versioning"], json!({ "mode": "independent", "tag_pattern": "{package}-v{version}" }));
}

#[test]
fn a_package_tag_releases_that_package_only() {
    let mut tagged = inputs(&["agent-v0.9.1"], &[]);
    tagged.ref_override = Some("refs/tags/agent-v0.9.1".into());
    let plan = compute(&tagged).unwrap();
    assert_eq!((plan.context.kind, plan.version.to_string()), (Kind::Tag, "0.9.1".to_string()));
    assert_eq!(plan.images.iter().map(|image| image.name.as_str()).collect::<Vec<_>>(), ["agent"]);
    assert_eq!(plan.matrix["image"], ["agent"]);
    // a tag at HEAD selects the same way
    let mut at_head = inputs(&["tool-v2.4.1"], &[]);
    at_head.git.tags_at_head = vec!["tool-v2.4.1".into()];
    let plan = compute(&at_head).unwrap();
    assert_eq!(plan.images.iter().map(|image| image.name.as_str()).collect::<Vec<_>>(), ["tool", "tool-debug"]);
    assert_eq!(plan.git.tag_at_head.as_deref(), Some("tool-v2.4.1"));
}

#[test]
fn package_tags_must_name_the_package_version_and_retractions_are_per_package() {
    let mut wrong = inputs(&[], &[]);
    wrong.ref_override = Some("refs/tags/tool-v2.5.0".into());
    let error = compute(&wrong).unwrap_err().to_string();
    assert!(error.contains("names tool 2.5.0") && error.contains("version -p tool set 2.5.0"), "{error}");
    let mut stale = inputs(&[], &[]);
    stale.git.tags_at_head = vec!["agent-v0.9.1".into(), "tool-v2.4.0".into()];
    stale.ref_override = Some("refs/heads/main".into());
    let error = compute(&stale).unwrap_err().to_string();
    assert!(error.contains("HEAD carries tag tool-v2.4.0"), "{error}");
    let mut unknown = inputs(&[], &[]);
    unknown.ref_override = Some("refs/tags/v2.4.1".into());
    let error = compute(&unknown).unwrap_err().to_string();
    assert!(error.contains("not a release tag") && error.contains("{package}-v{version}"), "{error}");
    // agent's retraction leaves tool alone; a retracted higher tool release no longer holds latest
    let error = compute(&inputs(&[], &["retracted/agent-v0.9.1"])).unwrap_err().to_string();
    assert!(error.contains("retracted/agent-v0.9.1"), "{error}");
    let plan = compute(&inputs(&["tool-v3.0.0"], &["retracted/tool-v3.0.0", "retracted/v2.4.1"])).unwrap();
    assert_eq!(image(&plan, "tool").floating_tags.last().map(String::as_str), Some("ghcr.io/acme/tool:latest"));
}

#[test]
fn a_retraction_plans_the_package_release_it_withdraws() {
    use crate::rules::retract;
    let inputs = inputs(&["tool-v2.4.0", "agent-v0.9.0", "agent-v0.9.1"], &[]);
    let of = (&inputs.versioning, "agent");
    assert!(retract::check_released_of(of, &Version::new(0, 9, 0), &inputs.git.release_tags).is_ok());
    let error = retract::check_released_of(of, &Version::new(2, 4, 0), &inputs.git.release_tags).unwrap_err();
    assert!(error.to_string().contains("no git tag agent-v2.4.0"), "{error}");
    let plan = retract::release_plan_of(&inputs, "agent", &Version::new(0, 9, 0)).unwrap();
    assert_eq!(plan.images.iter().map(|image| image.name.as_str()).collect::<Vec<_>>(), ["agent"]);
    assert_eq!(plan.images[0].versioned_tags, ["ghcr.io/acme/agent:0.9.0"]);
    assert_eq!(plan.context.git_ref, "refs/tags/agent-v0.9.0");
    let (released, _) = retract::versions_of(of, &inputs.git.release_tags, &["retracted/tool-v2.4.0".into()]);
    assert_eq!(released, [Version::new(0, 9, 0), Version::new(0, 9, 1)]);
}
