//! What a release's SBOM and provenance say, pure: the packages in a CycloneDX SBOM (by purl), the
//! base and toolchain images the build's SLSA provenance names, the
//! union of several SBOMs of one image, and the difference between two releases' SBOMs (crates
//! added, removed, upgraded) that release notes list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One package of an SBOM: its purl type (`cargo`, `deb`), name and version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Package {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
}

/// A package present in both, at another version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upgrade {
    pub ecosystem: String,
    pub name: String,
    pub from: String,
    pub to: String,
}

/// How one SBOM's packages differ from an earlier one's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    pub added: Vec<Package>,
    pub removed: Vec<Package>,
    /// Changed versions (`from → to`; a downgrade too, in the same list).
    pub upgraded: Vec<Upgrade>,
}

/// The packages of a CycloneDX SBOM that carry a purl (`pkg:TYPE/[NAMESPACE/]NAME@VERSION`), sorted.
pub fn packages(sbom: &serde_json::Value) -> Vec<Package> {
    let mut found: Vec<Package> = sbom["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let purl = c["purl"].as_str()?.strip_prefix("pkg:")?;
            let (ecosystem, rest) = purl.split_once('/')?;
            let rest = rest.split(['?', '#']).next()?;
            let (path, version) = rest.rsplit_once('@')?;
            let name = path.rsplit('/').next()?;
            Some(Package { ecosystem: ecosystem.to_owned(), name: name.to_owned(), version: version.to_owned() })
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// One CycloneDX document holding every component of `sboms` once (by purl, else by bom-ref or
/// name and version), the first one's metadata kept: the union of several verified SBOMs of one
/// image, whose packages release notes compare. `Null` for none.
pub fn union(sboms: &[serde_json::Value]) -> serde_json::Value {
    let Some(first) = sboms.first() else { return serde_json::Value::Null };
    let mut merged = first.clone();
    let mut seen = std::collections::BTreeSet::new();
    let mut components = Vec::new();
    for component in sboms.iter().flat_map(|s| s["components"].as_array().into_iter().flatten()) {
        let key = ["purl", "bom-ref"]
            .iter()
            .find_map(|k| component[*k].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("{}@{}", component["name"], component["version"]));
        if seen.insert(key) {
            components.push(component.clone());
        }
    }
    merged["components"] = serde_json::Value::Array(components);
    merged
}

/// `packages` without the crate the image itself ships (`package`): its version moves with every
/// release, and is no dependency change.
pub fn dependencies(mut packages: Vec<Package>, package: &str) -> Vec<Package> {
    packages.retain(|p| !(p.ecosystem == "cargo" && p.name == package));
    packages
}

/// The images a build started from, as its SLSA v0.2 provenance lists them (`materials`):
/// `pkg:docker/debian@trixie-slim?platform=…` → `debian:trixie-slim@sha256:…`.
pub fn base_images(provenance: &serde_json::Value) -> Vec<String> {
    let mut bases: Vec<String> = provenance["materials"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let image = m["uri"].as_str()?.strip_prefix("pkg:docker/")?.split('?').next()?;
            let (name, tag) = image.rsplit_once('@')?;
            let digest = m["digest"]["sha256"].as_str().map(|d| format!("@sha256:{d}")).unwrap_or_default();
            Some(format!("{name}:{tag}{digest}"))
        })
        .collect();
    bases.sort();
    bases.dedup();
    bases
}

/// The toolchain a build used, from its provenance's build arguments (`TOOLCHAIN`,
/// `BUILDER_IMAGE`; the Dockerfile's defaults when not passed).
pub fn toolchain(provenance: &serde_json::Value) -> String {
    let args = &provenance["invocation"]["parameters"]["args"];
    let arg = |name: &str| args[format!("build-arg:{name}")].as_str().map(str::to_owned);
    let kind = arg("TOOLCHAIN").unwrap_or_else(|| "debian".into());
    match arg("BUILDER_IMAGE") {
        Some(image) => format!("{kind} ({image})"),
        None => kind,
    }
}

/// The difference from `old` to `new`, each package keyed by ecosystem and name.
pub fn diff(old: &[Package], new: &[Package]) -> Diff {
    let key = |p: &Package| (p.ecosystem.clone(), p.name.clone());
    let versions = |all: &[Package]| {
        let mut map: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for p in all {
            map.entry(key(p)).or_default().push(p.version.clone());
        }
        map
    };
    let (before, after) = (versions(old), versions(new));
    let mut diff = Diff::default();
    for ((ecosystem, name), now) in &after {
        match before.get(&(ecosystem.clone(), name.clone())) {
            None => diff.added.extend(now.iter().map(|v| package(ecosystem, name, v))),
            Some(was) if was != now => {
                let (gone, came): (Vec<_>, Vec<_>) = (
                    was.iter().filter(|v| !now.contains(v)).collect(),
                    now.iter().filter(|v| !was.contains(v)).collect(),
                );
                if let ([from], [to]) = (gone.as_slice(), came.as_slice()) {
                    let (from, to) = ((*from).clone(), (*to).clone());
                    diff.upgraded.push(Upgrade { ecosystem: ecosystem.clone(), name: name.clone(), from, to });
                } else {
                    diff.removed.extend(gone.iter().map(|v| package(ecosystem, name, v)));
                    diff.added.extend(came.iter().map(|v| package(ecosystem, name, v)));
                }
            }
            Some(_) => {}
        }
    }
    for ((ecosystem, name), was) in &before {
        if !after.contains_key(&(ecosystem.clone(), name.clone())) {
            diff.removed.extend(was.iter().map(|v| package(ecosystem, name, v)));
        }
    }
    diff
}

fn package(ecosystem: &str, name: &str, version: &str) -> Package {
    Package { ecosystem: ecosystem.to_owned(), name: name.to_owned(), version: version.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sbom(purls: &[&str]) -> serde_json::Value {
        let components: Vec<_> = purls.iter().map(|p| json!({"type": "library", "purl": p})).collect();
        json!({"components": components, "metadata": {"component": {"properties": [
            {"name": "aquasecurity:trivy:DiffID", "value": "sha256:0"},
            {"name": "aquasecurity:trivy:Size", "value": "1880064"}]}}})
    }

    #[test]
    fn packages_come_from_purls_namespaces_and_qualifiers_dropped() {
        let doc =
            sbom(&["pkg:cargo/libc@0.2.191", "pkg:deb/debian/tzdata@2025b-4?arch=all&distro=debian-13", "nopurl"]);
        assert_eq!(
            packages(&doc),
            [package("cargo", "libc", "0.2.191"), package("deb", "tzdata", "2025b-4")],
            "sorted by ecosystem, then name"
        );
        let own = packages(&sbom(&["pkg:cargo/beacon@1.0.1", "pkg:cargo/libc@0.2.191", "pkg:deb/debian/beacon@1"]));
        assert_eq!(dependencies(own, "beacon").len(), 2, "only the image's own crate is left out");
    }

    #[test]
    fn a_union_holds_every_component_once_and_the_first_ones_metadata() {
        let one = sbom(&["pkg:cargo/libc@0.2.191", "pkg:cargo/itoa@1.0.19"]);
        let clean = json!({"bomFormat": "CycloneDX", "components": []});
        let other = sbom(&["pkg:cargo/libc@0.2.191", "pkg:cargo/semver@1.0.26"]);
        let merged = union(&[clean.clone(), one.clone(), other]);
        let names: Vec<String> = packages(&merged).into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["itoa", "libc", "semver"]);
        assert_eq!(merged["components"].as_array().unwrap().len(), 3, "libc once");
        assert_eq!(union(&[one.clone(), clean])["metadata"], one["metadata"], "the first one's metadata");
        assert!(union(&[]).is_null());
    }

    #[test]
    fn the_diff_lists_exactly_what_moved() {
        let old = packages(&sbom(&["pkg:cargo/itoa@1.0.19", "pkg:cargo/libc@0.2.191", "pkg:cargo/gone@1.0.0"]));
        let new = packages(&sbom(&["pkg:cargo/itoa@1.0.19", "pkg:cargo/libc@0.2.192", "pkg:cargo/semver@1.0.26"]));
        let d = diff(&old, &new);
        assert_eq!(d.added, [package("cargo", "semver", "1.0.26")]);
        assert_eq!(d.removed, [package("cargo", "gone", "1.0.0")]);
        let upgrade =
            Upgrade { ecosystem: "cargo".into(), name: "libc".into(), from: "0.2.191".into(), to: "0.2.192".into() };
        assert_eq!(d.upgraded, [upgrade]);
        assert_eq!(diff(&new, &new), Diff::default(), "the same SBOM: nothing changed");
        // Two versions of one crate, one of them replaced: an addition and a removal, not a guess.
        let two = packages(&sbom(&["pkg:cargo/rand@0.8.5", "pkg:cargo/rand@0.9.1"]));
        let other = packages(&sbom(&["pkg:cargo/rand@0.8.5", "pkg:cargo/rand@0.9.2"]));
        assert_eq!(diff(&two, &other).upgraded.len(), 1, "one version changed, one stayed: an upgrade");
    }

    #[test]
    fn provenance_names_the_base_and_the_toolchain() {
        let provenance = json!({
            "invocation": {"parameters": {"args": {"build-arg:TOOLCHAIN": "rustup"}}},
            "materials": [{"uri": "pkg:docker/debian@trixie-slim?platform=linux%2Famd64", "digest": {"sha256": "13d0"}}]
        });
        assert_eq!(base_images(&provenance), ["debian:trixie-slim@sha256:13d0"]);
        assert_eq!(toolchain(&provenance), "rustup");
        assert_eq!(toolchain(&json!({})), "debian", "the Dockerfile's default");
    }
}
