//! Unit tests of `system_libraries`: the table applied to dependency graphs.

use super::*;
use crate::rules::dependency_graph::parse;

fn graph(linked: &str, with_build: &str) -> Result<Graph, String> {
    Ok(parse(linked, with_build).unwrap())
}

const OPENSSL_AND_SQLITE: &str = "\
0app v1.0.0 (/w/app)|
1reqwest v0.12.28|default,default-tls
2native-tls v0.2.18|default
3openssl-sys v0.9.118|
1rusqlite v0.32.1|
2libsqlite3-sys v0.30.1|default,pkg-config,vcpkg
";

#[test]
fn openssl_and_an_unbundled_sqlite_bring_their_packages_and_stay_static() {
    let system = decide("app", &graph(OPENSSL_AND_SQLITE, ""), None);
    assert_eq!(system.packages, ["libsqlite3-dev", "libssl-dev", "libzstd-dev", "zlib1g-dev"]);
    assert_eq!(system.linkage, Linkage::Static);
    assert_eq!(system.problem, None);
    assert_eq!(system.detected.len(), 2);
    assert_eq!(system.detected[0].crate_name, "openssl-sys 0.9.118");
    assert_eq!(
        system.detected[0].because,
        "app → reqwest → native-tls → openssl-sys; OpenSSL, without feature vendored"
    );
    assert!(system.detected[1].because.contains("without feature bundled or"), "{:?}", system.detected[1]);
}

#[test]
fn a_bundling_feature_needs_no_package() {
    let bundled = OPENSSL_AND_SQLITE
        .replace("default,pkg-config,vcpkg", "bundled,default")
        .replace("3openssl-sys v0.9.118|", "3openssl-sys v0.9.118|vendored");
    let system = decide("app", &graph(&bundled, ""), None);
    assert!(system.packages.is_empty(), "{system:?}");
    assert!(system.detected.iter().all(|d| d.packages.is_empty()));
    assert!(system.detected[1].because.ends_with("feature bundled builds it from bundled sources"));
    // zstd-sys is the other way round: bundled unless `pkg-config`.
    let zstd = "0app v1.0.0|\n1zstd-sys v2.0.16|legacy\n";
    assert!(decide("app", &graph(zstd, ""), None).packages.is_empty());
    let zstd = "0app v1.0.0|\n1zstd-sys v2.0.16|legacy,pkg-config\n";
    assert_eq!(decide("app", &graph(zstd, ""), None).packages, ["libzstd-dev"]);
}

#[test]
fn a_library_without_a_static_archive_links_the_image_dynamically() {
    let pq = "0app v1.0.0|\n1diesel v2.2.0|postgres\n2pq-sys v0.7.8|default,pkg-config\n";
    let system = decide("app", &graph(pq, ""), Some(&["libfoo-dev".to_owned()]));
    assert_eq!(system.linkage, Linkage::Dynamic);
    assert_eq!(system.packages, ["libfoo-dev", "libpq-dev"]);
    assert!(system.detected[0].because.contains("linked dynamically"), "{:?}", system.detected[0]);
    let bundled = pq.replace("default,pkg-config", "bundled,default");
    assert_eq!(decide("app", &graph(&bundled, ""), None).linkage, Linkage::Static);
}

#[test]
fn an_unknown_crate_probing_pkg_config_is_a_problem_naming_the_key() {
    let linked = "0app v1.0.0|\n1gtk v0.1.0|\n2libfoo-sys v0.3.0|\n1serde v1.0.0|\n";
    let with_build = "0app v1.0.0\n1gtk v0.1.0\n2libfoo-sys v0.3.0\n3pkg-config v0.3.34\n1serde v1.0.0\n";
    let system = decide("app", &graph(linked, with_build), None);
    let problem = system.problem.unwrap();
    assert!(problem.starts_with("workspace.metadata.xtask.images.app: a linked crate probes pkg-config"), "{problem}");
    assert!(problem.contains("libfoo-sys 0.3.0 (app → gtk → libfoo-sys)"), "{problem}");
    assert!(problem.contains("`images.app.system-packages = [\"libfoo-dev\"]`"), "{problem}");
    // Naming packages, even none, says the crate is taken care of.
    let named = decide("app", &graph(linked, with_build), Some(&["libfoo-dev".to_owned()]));
    assert_eq!((named.problem, named.packages), (None, vec!["libfoo-dev".to_owned()]));
    assert_eq!(decide("app", &graph(linked, with_build), Some(&[])).problem, None);
    // A crate of the table is never unknown, and one that probes nothing is none of this.
    let table = "0app v1.0.0|\n1openssl-sys v0.9.118|\n";
    assert_eq!(
        decide("app", &graph(table, "0app v1.0.0\n1openssl-sys v0.9.118\n2pkg-config v0.3.34\n"), None).problem,
        None
    );
}

#[test]
fn an_unreadable_graph_is_a_problem_and_the_configured_packages_still_count() {
    let system = decide("app", &Err("cargo tree failed".into()), Some(&["libfoo-dev".to_owned()]));
    let problem = system.problem.unwrap();
    assert!(problem.contains("could not be read (cargo tree failed)") && problem.contains("Cargo.lock"), "{problem}");
    assert_eq!(system.packages, ["libfoo-dev"]);
}

#[test]
fn the_table_names_real_crates_and_debian_packages_once_each() {
    let mut names: Vec<&str> = LIBRARIES.iter().map(|l| l.crate_name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), LIBRARIES.len());
    for required in [
        "openssl-sys",
        "pq-sys",
        "libsqlite3-sys",
        "libz-sys",
        "zstd-sys",
        "curl-sys",
        "libgit2-sys",
        "bzip2-sys",
        "lzma-sys",
    ] {
        assert!(known(required).is_some(), "{required} is in the table");
    }
    for library in LIBRARIES {
        assert!(library.packages.iter().all(|p| is_package_name(p)), "{library:?}");
    }
    assert!(is_package_name("libssl-dev") && is_package_name("libstdc++-14-dev") && is_package_name("g++"));
    assert!(!is_package_name("libssl-dev:arm64") && !is_package_name("LibSSL") && !is_package_name("-x"));
    assert!(!is_package_name("x") && !is_package_name(""));
}
