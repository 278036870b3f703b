//! What a release's SBOM and provenance say, pure: the packages in a CycloneDX SBOM (by purl), the
//! base and toolchain images the build's SLSA provenance names, the
//! union of several SBOMs of one image, and the difference between two releases' SBOMs (crates
//! added, removed, upgraded) that release notes list.
//!
//! Both documents are read typed (`Bom`, `Provenance`), as far as they are read: a CycloneDX SBOM
//! must say it is one (`bomFormat`, `specVersion`) and each component has its `type` and `name`; an
//! SLSA v0.2 predicate its `buildType`. What the formats make optional stays optional (an SBOM of an
//! image where trivy found no package has no `components`; a provenance may list no `materials`),
//! and what the engine passes on untouched (the files it scans or attests) is never rewritten.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::rules::json::nullable;

/// A CycloneDX SBOM (trivy's `--format cyclonedx`, or a release's attestation of one).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bom {
    pub bom_format: String,
    /// Required, not read (any version: the fields read are in all of them).
    #[serde(rename = "specVersion")]
    _spec_version: IgnoredAny,
    /// Optional in CycloneDX: trivy leaves it out where it found no package.
    #[serde(default, deserialize_with = "nullable")]
    pub components: Vec<Component>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Component {
    /// Required, not read.
    #[serde(rename = "type")]
    _kind: IgnoredAny,
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub purl: Option<String>,
    #[serde(rename = "bom-ref", default)]
    pub bom_ref: Option<String>,
}

/// A CycloneDX SBOM read from its JSON; the problem in words otherwise.
pub fn bom(value: serde_json::Value) -> Result<Bom, String> {
    let bom: Bom = serde_json::from_value(value).map_err(|e| format!("it is not a CycloneDX SBOM: {e}"))?;
    if bom.bom_format != "CycloneDX" {
        return Err(format!("its bomFormat is {:?}, not \"CycloneDX\"", bom.bom_format));
    }
    Ok(bom)
}

/// [`bom`], from text.
pub fn parse_bom(text: &str) -> Result<Bom, String> {
    bom(serde_json::from_str(text).map_err(|e| format!("it is not JSON: {e}"))?)
}

/// An SLSA v0.2 provenance predicate, as BuildKit writes it (what release notes read of it).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// Required, not read: what makes the document an SLSA v0.2 predicate.
    #[serde(rename = "buildType")]
    _build_type: IgnoredAny,
    /// Optional in SLSA v0.2: a build from `scratch` has none.
    #[serde(default, deserialize_with = "nullable")]
    pub materials: Vec<Material>,
    #[serde(default)]
    pub invocation: Invocation,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Material {
    pub uri: String,
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Invocation {
    #[serde(default)]
    pub parameters: Parameters,
}

/// BuildKit's frontend parameters: its `args` are the build args (`build-arg:NAME`), only those passed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Parameters {
    #[serde(default)]
    pub args: BTreeMap<String, String>,
}

/// An SLSA v0.2 provenance predicate read from its JSON; the problem in words otherwise.
pub fn provenance(value: serde_json::Value) -> Result<Provenance, String> {
    serde_json::from_value(value).map_err(|e| format!("it is not an SLSA v0.2 provenance predicate: {e}"))
}

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
pub fn packages(sbom: &Bom) -> Vec<Package> {
    let mut found: Vec<Package> = sbom
        .components
        .iter()
        .filter_map(|c| {
            let purl = c.purl.as_deref()?.strip_prefix("pkg:")?;
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

/// One SBOM holding every component of `sboms` once (by purl, else by bom-ref or name and
/// version): the union of several verified SBOMs of one image, whose packages release notes
/// compare. Empty for none.
pub fn union(sboms: &[Bom]) -> Bom {
    let Some(first) = sboms.first() else { return Bom::default() };
    let mut seen = std::collections::BTreeSet::new();
    let mut components = Vec::new();
    for component in sboms.iter().flat_map(|s| &s.components) {
        let key = component
            .purl
            .clone()
            .or_else(|| component.bom_ref.clone())
            .unwrap_or_else(|| format!("{}@{}", component.name, component.version.as_deref().unwrap_or_default()));
        if seen.insert(key) {
            components.push(component.clone());
        }
    }
    Bom { components, ..first.clone() }
}

/// `packages` without the crate the image itself ships (`package`): its version moves with every
/// release, and is no dependency change.
pub fn dependencies(mut packages: Vec<Package>, package: &str) -> Vec<Package> {
    packages.retain(|p| !(p.ecosystem == "cargo" && p.name == package));
    packages
}

/// The images a build started from, as its SLSA v0.2 provenance lists them (`materials`):
/// `pkg:docker/debian@trixie-slim?platform=…` → `debian:trixie-slim@sha256:…`.
pub fn base_images(provenance: &Provenance) -> Vec<String> {
    let mut bases: Vec<String> = provenance
        .materials
        .iter()
        .filter_map(|m| {
            let image = m.uri.strip_prefix("pkg:docker/")?.split('?').next()?;
            let (name, tag) = image.rsplit_once('@')?;
            let digest = m.digest.get("sha256").map(|d| format!("@sha256:{d}")).unwrap_or_default();
            Some(format!("{name}:{tag}{digest}"))
        })
        .collect();
    bases.sort();
    bases.dedup();
    bases
}

/// The toolchain a build used, from its provenance's build arguments (`TOOLCHAIN`,
/// `BUILDER_IMAGE`; the Dockerfile's defaults when not passed).
pub fn toolchain(provenance: &Provenance) -> String {
    let args = &provenance.invocation.parameters.args;
    let arg = |name: &str| args.get(&format!("build-arg:{name}")).cloned();
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

    fn sbom(purls: &[&str]) -> Bom {
        let components: Vec<_> = purls.iter().map(|p| json!({"type": "library", "name": "n", "purl": p})).collect();
        bom(json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": components,
            "metadata": {"component": {"properties": [
            {"name": "aquasecurity:trivy:DiffID", "value": "sha256:0"},
            {"name": "aquasecurity:trivy:Size", "value": "1880064"}]}}}))
        .unwrap()
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
    fn a_union_holds_every_component_once() {
        let one = sbom(&["pkg:cargo/libc@0.2.191", "pkg:cargo/itoa@1.0.19"]);
        let clean = bom(json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []})).unwrap();
        let other = sbom(&["pkg:cargo/libc@0.2.191", "pkg:cargo/semver@1.0.26"]);
        let merged = union(&[clean.clone(), one.clone(), other]);
        let names: Vec<String> = packages(&merged).into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["itoa", "libc", "semver"]);
        assert_eq!(merged.components.len(), 3, "libc once");
        assert!(union(&[]).components.is_empty());
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
        let read = provenance(json!({
            "builder": {"id": ""}, "buildType": "https://mobyproject.org/buildkit@v1",
            "invocation": {"parameters": {"frontend": "dockerfile.v0", "args": {"build-arg:TOOLCHAIN": "rustup"}}},
            "materials": [{"uri": "pkg:docker/debian@trixie-slim?platform=linux%2Famd64", "digest": {"sha256": "13d0"}}]
        }))
        .unwrap();
        assert_eq!(base_images(&read), ["debian:trixie-slim@sha256:13d0"]);
        assert_eq!(toolchain(&read), "rustup");
        let scratch = provenance(json!({"buildType": "https://mobyproject.org/buildkit@v1"})).unwrap();
        assert_eq!((toolchain(&scratch), base_images(&scratch)), ("debian".into(), vec![]), "the Dockerfile's default");
        let other = provenance(json!({"predicateType": "https://slsa.dev/provenance/v1", "buildDefinition": {}}));
        assert!(other.unwrap_err().contains("missing field `buildType`"));
    }

    #[test]
    fn an_sbom_must_say_it_is_cyclonedx_and_name_its_components() {
        let read = parse_bom(r#"{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": null}"#).unwrap();
        assert!(read.components.is_empty(), "no package found: a legitimately empty SBOM");
        assert!(parse_bom("{}").unwrap_err().contains("missing field `bomFormat`"));
        assert!(parse_bom(r#"{"spdxVersion": "SPDX-2.3"}"#).unwrap_err().contains("not a CycloneDX SBOM"));
        let spdx = r#"{"bomFormat": "SPDX", "specVersion": "2.3"}"#;
        assert!(parse_bom(spdx).unwrap_err().contains("not \"CycloneDX\""));
        let nameless = r#"{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"type": "library"}]}"#;
        assert!(parse_bom(nameless).unwrap_err().contains("missing field `name`"));
        assert!(parse_bom("truncated").unwrap_err().contains("not JSON"));
    }
}
