//! Unit tests of `versioning`: detection, tag patterns both ways, and the bad inputs.

use super::*;

fn v(text: &str) -> Version {
    Version::parse(text).unwrap()
}

fn member(name: &str, version: &str, inherits: bool) -> MemberVersion {
    MemberVersion { name: name.into(), version: v(version), inherits }
}

fn images(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(image, package)| (image.to_string(), package.to_string())).collect()
}

fn tags(list: &[&str]) -> Vec<String> {
    list.iter().map(|tag| tag.to_string()).collect()
}

#[test]
fn patterns_make_and_read_tags() {
    let version = v("1.2.3-rc.1");
    let table = [
        (TagPattern::Bare, "1.2.3-rc.1"),
        (TagPattern::V, "v1.2.3-rc.1"),
        (TagPattern::PackageV, "tool-v1.2.3-rc.1"),
        (TagPattern::PackageDash, "tool-1.2.3-rc.1"),
    ];
    for (pattern, tag) in table {
        assert_eq!(pattern.tag("tool", &version), tag);
        assert_eq!(pattern.version_of("tool", tag), Some(version.clone()), "{pattern:?}");
        assert_eq!(pattern.version_of("other", tag).is_some(), !pattern.names_package(), "{pattern:?}");
    }
    assert_eq!(TagPattern::PackageDash.version_of("tool", "tool-v1.2.3"), None);
    assert_eq!(TagPattern::PackageV.version_of("tool", "tool-1.2.3"), None);
    assert_eq!(TagPattern::V.version_of("tool", "1.2.3"), None);
    assert_eq!(TagPattern::Bare.version_of("tool", "v1.2.3"), None);
    assert_eq!(TagPattern::PackageV.version_of("tool", "toolkit-v1.2.3"), None);
}

#[test]
fn a_tag_names_the_longest_matching_package() {
    let versioning = Versioning { mode: Mode::Independent, tag_pattern: TagPattern::PackageDash, ..Default::default() };
    let packages = tags(&["tool", "tool-core"]);
    assert_eq!(versioning.parse_tag(&packages, "tool-core-1.0.0"), Some((Some("tool-core"), v("1.0.0"))));
    assert_eq!(versioning.parse_tag(&packages, "tool-2.0.0"), Some((Some("tool"), v("2.0.0"))));
    assert_eq!(versioning.parse_tag(&packages, "other-2.0.0"), None);
    let lockstep = Versioning::default();
    assert_eq!(lockstep.parse_tag(&packages, "v2.0.0"), Some((None, v("2.0.0"))));
}

#[test]
fn each_package_counts_only_its_own_release_and_retraction_tags() {
    let versioning = Versioning { mode: Mode::Independent, tag_pattern: TagPattern::PackageV, ..Default::default() };
    let repo = tags(&["tool-v1.0.0", "tool-core-v3.0.0", "v9.0.0", "tool-v1.1.0"]);
    assert_eq!(versioning.released("tool", &repo), [v("1.0.0"), v("1.1.0")]);
    assert_eq!(versioning.released("tool-core", &repo), [v("3.0.0")]);
    let retracted = tags(&["retracted/tool-v1.1.0", "retracted/v9.0.0"]);
    assert_eq!(versioning.retracted("tool", &retracted), [v("1.1.0")]);
    assert_eq!(versioning.retraction_tag("tool", &v("1.1.0")), "retracted/tool-v1.1.0");
}

#[test]
fn the_mode_is_detected_and_the_pattern_follows_it() {
    let none = Settings::default();
    // this repository: every member inherits the workspace version
    let lockstep = [member("beacon", "0.1.0", true), member("beaconctl", "0.1.0", true)];
    let two = images(&[("beacon", "beacon"), ("beaconctl", "beaconctl")]);
    let (versioning, version) = decide(none, Some("0.1.0"), &lockstep, &two).unwrap();
    assert_eq!((versioning.mode, versioning.tag_pattern, version), (Mode::Lockstep, TagPattern::V, Some(v("0.1.0"))));
    // a root package and libraries with their own versions, no workspace version
    let own = [member("tool", "2.4.1", false), member("tool-core", "0.4.2", false), member("cli", "1.3.0", false)];
    let one = images(&[("tool", "tool")]);
    let (versioning, version) = decide(none, None, &own, &one).unwrap();
    assert_eq!((versioning.mode, versioning.tag_pattern, version), (Mode::Independent, TagPattern::V, None));
    assert_eq!(versioning.packages, BTreeMap::from([("tool".to_string(), v("2.4.1"))]));
    assert_eq!(versioning.version_of("tool", &v("0.0.0")), &v("2.4.1"));
    // several packages released: their names go in the tags
    let several = images(&[("tool", "tool"), ("cli", "cli")]);
    let (versioning, _) = decide(none, None, &own, &several).unwrap();
    assert_eq!((versioning.mode, versioning.tag_pattern), (Mode::Independent, TagPattern::PackageV));
    // two images of one package are one released package
    let same = images(&[("tool", "tool"), ("tool-debug", "tool")]);
    assert_eq!(decide(none, None, &own, &same).unwrap().0.tag_pattern, TagPattern::V);
    // a configured pattern wins
    let dash = Settings { tag_pattern: Some(TagPattern::PackageDash), ..none };
    assert_eq!(decide(dash, None, &own, &several).unwrap().0.tag_pattern, TagPattern::PackageDash);
    // a workspace version the released crate doesn't inherit: independent
    let (versioning, _) = decide(none, Some("9.9.9"), &own, &one).unwrap();
    assert_eq!(versioning.mode, Mode::Independent);
    // forced independent on a lockstep workspace: each image at its (inherited) version
    let forced = Settings { mode: Some(Mode::Independent), ..none };
    let (versioning, _) = decide(forced, Some("0.1.0"), &lockstep, &two).unwrap();
    assert_eq!((versioning.mode, versioning.tag_pattern), (Mode::Independent, TagPattern::PackageV));
}

#[test]
fn bad_inputs_are_named() {
    let none = Settings::default();
    let own = [member("tool", "2.4.1", false), member("cli", "1.3.0", false)];
    // an image's package is not a member
    let error = decide(none, None, &own, &images(&[("tool", "toool")])).unwrap_err().to_string();
    assert!(error.contains("workspace.metadata.xtask.images.tool.package") && error.contains("`toool`"), "{error}");
    // a tag pattern without the package, several packages released independently
    let v_only = Settings { tag_pattern: Some(TagPattern::V), ..none };
    let several = images(&[("tool", "tool"), ("cli", "cli")]);
    let error = decide(v_only, None, &own, &several).unwrap_err().to_string();
    assert!(
        error.contains("workspace.metadata.xtask.tag-pattern") && error.contains("{package}-v{version}"),
        "{error}"
    );
    // a package in the tags of a lockstep workspace
    let lockstep = [member("beacon", "0.1.0", true), member("beaconctl", "0.1.0", true)];
    let two = images(&[("beacon", "beacon"), ("beaconctl", "beaconctl")]);
    let named = Settings { tag_pattern: Some(TagPattern::PackageV), ..none };
    let error = decide(named, Some("0.1.0"), &lockstep, &two).unwrap_err().to_string();
    assert!(error.contains("workspace.metadata.xtask.tag-pattern") && error.contains("lockstep"), "{error}");
    // lockstep forced where images of different packages have different versions: they must share one
    let forced = Settings { mode: Some(Mode::Lockstep), ..none };
    let error = decide(forced, Some("1.3.0"), &own, &several).unwrap_err().to_string();
    assert!(
        error.contains("crate `tool` has version 2.4.1") && error.contains("versioning = \"independent\""),
        "{error}"
    );
    // detected lockstep with a library that keeps its own version: today's error, and the way out
    let pinned = [member("app", "1.0.0", true), member("pinned", "1.0.0", false)];
    let error = decide(none, Some("1.0.0"), &pinned, &images(&[("app", "app")])).unwrap_err().to_string();
    assert!(error.contains("crate `pinned`") && error.contains("version.workspace = true"), "{error}");
    assert!(error.contains("versioning = \"independent\""), "{error}");
}

#[test]
fn the_keys_are_read_from_the_configuration_and_bad_values_named() {
    use crate::rules::config::Config;
    use serde_json::json;
    let config = Config::from_metadata(&json!({ "xtask": {
        "versioning": "independent", "tag-pattern": "{package}-{version}",
    } }))
    .unwrap();
    assert_eq!((config.versioning, config.tag_pattern), (Some(Mode::Independent), Some(TagPattern::PackageDash)));
    assert_eq!(Config::from_metadata(&json!({ "xtask": {} })).unwrap().versioning, None);
    for (key, value) in [("versioning", "separate"), ("tag-pattern", "release-{version}")] {
        let error = Config::from_metadata(&json!({ "xtask": { key: value } })).unwrap_err().to_string();
        assert!(error.contains(&format!("workspace.metadata.xtask.{key}")) && error.contains(value), "{error}");
    }
}
