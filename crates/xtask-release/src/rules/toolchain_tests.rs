//! Unit tests of the Rust requirement and the builder choice.

use super::*;

fn krate(name: &str, rust: Option<&str>, edition: &str, deps: &[&str]) -> CrateRust {
    CrateRust {
        name: name.into(),
        manifest: format!("crates/{name}/Cargo.toml"),
        rust_version: rust.map(|r| parse_rust_version(r).unwrap()),
        edition: edition.into(),
        path_dependencies: deps.iter().map(|d| format!("crates/{d}")).collect(),
        ..CrateRust::default()
    }
}

fn facts(crates: Vec<CrateRust>, toolchain: Option<(&str, &str)>) -> Facts {
    Facts {
        crates,
        toolchain_file: toolchain.map(|(path, text)| ToolchainFile { path: path.into(), text: text.into() }),
    }
}

/// The `rust-version` of dependencies the build compiles, as `rules::dependency_graph` keeps them.
fn locked(crates: &[(&str, &str)]) -> BTreeMap<String, Version> {
    crates.iter().map(|(krate, rust)| ((*krate).to_owned(), parse_rust_version(rust).unwrap())).collect()
}

#[test]
fn versions_parse_as_people_write_them() {
    assert_eq!(parse_rust_version("1.88"), Some(Version::new(1, 88, 0)));
    assert_eq!(parse_rust_version("1.88.1"), Some(Version::new(1, 88, 1)));
    for bad in ["stable", "1", "1.x", "1.88.0.1", "", "1..2", "nightly-2025-01-01"] {
        assert_eq!(parse_rust_version(bad), None, "{bad}");
    }
}

#[test]
fn nothing_asked_is_trixie() {
    let choice = choose(&facts(vec![krate("app", None, "2021", &[])], None), None, ("app", "app"), &locked(&[]));
    assert_eq!((choice.image.as_str(), choice.rust.as_str()), ("debian:trixie-slim", "1.85.1"));
    assert_eq!(choice.required, None);
    assert_eq!(choice.toolchain, ToolchainKind::Debian);
    assert!(choice.problem.is_none());
}

#[test]
fn the_highest_requirement_of_the_crates_reached_wins() {
    let crates = vec![
        krate("app", Some("1.80"), "2024", &["core"]),
        krate("core", Some("1.88"), "2021", &[]),
        krate("unrelated", Some("1.99"), "2021", &[]),
    ];
    let choice = choose(&facts(crates.clone(), None), None, ("app", "app"), &locked(&[]));
    assert_eq!(choice.image, "debian:forky-slim");
    assert_eq!(choice.rust, "1.97.1");
    assert_eq!(choice.required.as_deref(), Some("1.88"));
    assert_eq!(choice.because, "crates/core/Cargo.toml package.rust-version = \"1.88\"");
    assert!(choice.problem.is_none(), "a member the package does not reach does not count");
    assert!(choice.to_string().contains("requires Rust 1.88"), "{choice}");

    // Edition 2024 alone: 1.85, which trixie has.
    let choice = choose(&facts(vec![krate("app", None, "2024", &[])], None), None, ("app", "app"), &locked(&[]));
    assert_eq!((choice.image.as_str(), choice.required.as_deref()), ("debian:trixie-slim", Some("1.85")));
    assert_eq!(choice.because, "crates/app/Cargo.toml package.edition = \"2024\"");

    // Inherited from [workspace.package]: the root manifest is named as the source.
    let mut inherited = krate("app", Some("1.86"), "2024", &[]);
    inherited.rust_version_inherited = true;
    let choice = choose(&facts(vec![inherited], None), None, ("app", "app"), &locked(&[]));
    assert_eq!(
        choice.because,
        "Cargo.toml workspace.package.rust-version = \"1.86\", inherited by crates/app/Cargo.toml"
    );
    assert_eq!(choice.image, "debian:forky-slim");
}

#[test]
fn a_requirement_beyond_every_builder_is_a_problem_naming_source_and_builders() {
    let crates = vec![krate("app", Some("1.99"), "2021", &[])];
    let choice = choose(&facts(crates, None), None, ("app", "app"), &locked(&[]));
    let problem = choice.problem.expect("no builder has 1.99");
    for needle in [
        "workspace.metadata.xtask.images.app: requires Rust 1.99",
        "crates/app/Cargo.toml package.rust-version = \"1.99\"",
        "Debian trixie has rustc 1.85.1",
        "Debian forky has rustc 1.97.1",
        "[workspace.metadata.xtask.builder]",
    ] {
        assert!(problem.contains(needle), "{needle:?} in {problem}");
    }
}

#[test]
fn the_toolchain_file_counts_when_it_is_a_version() {
    let crates = vec![krate("app", Some("1.80"), "2021", &[])];
    let toml = facts(crates.clone(), Some(("rust-toolchain.toml", "[toolchain]\nchannel = \"1.90.0\"\n")));
    let choice = choose(&toml, None, ("app", "app"), &locked(&[]));
    assert_eq!((choice.image.as_str(), choice.required.as_deref()), ("debian:forky-slim", Some("1.90")));
    assert_eq!(choice.because, "rust-toolchain.toml toolchain.channel = \"1.90.0\"");

    let legacy = facts(crates.clone(), Some(("rust-toolchain", "1.84\n")));
    let choice = choose(&legacy, None, ("app", "app"), &locked(&[]));
    assert_eq!((choice.image.as_str(), choice.required.as_deref()), ("debian:trixie-slim", Some("1.84")));
    assert_eq!(choice.because, "rust-toolchain (the channel) = \"1.84\"");

    let stable = facts(crates.clone(), Some(("rust-toolchain.toml", "[toolchain]\nchannel = \"stable\"\n")));
    let choice = choose(&stable, None, ("app", "app"), &locked(&[]));
    assert_eq!(choice.image, "debian:forky-slim", "stable: the newest builder");
    assert!(choice.problem.is_none());

    for channel in ["nightly", "beta", "nightly-2025-06-01", "1.88-x86_64-unknown-linux-gnu"] {
        let text = format!("[toolchain]\nchannel = \"{channel}\"\ncomponents = [\"rustfmt\"]\n");
        let problem =
            choose(&facts(crates.clone(), Some(("rust-toolchain.toml", &text))), None, ("app", "app"), &locked(&[]))
                .problem
                .unwrap_or_else(|| panic!("{channel} must be refused"));
        assert!(problem.contains(&format!("rust-toolchain.toml toolchain.channel = \"{channel}\"")), "{problem}");
        assert!(problem.contains("channel = \"1.88\""), "{problem}");
    }
    let broken = facts(crates, Some(("rust-toolchain.toml", "channel = [")));
    assert!(choose(&broken, None, ("app", "app"), &locked(&[]))
        .problem
        .unwrap()
        .contains("not a toolchain file rustup reads"));
}

#[test]
fn a_configured_builder_is_used_and_held_to_its_declared_rust() {
    let configured =
        BuilderConfig { image: "rust:1.90-slim-trixie".into(), rust: "1.90".into(), toolchain: ToolchainKind::Rustup };
    let crates = vec![krate("app", Some("1.88"), "2024", &[])];
    let choice = choose(&facts(crates, None), Some(&configured), ("app", "app"), &locked(&[]));
    assert_eq!((choice.image.as_str(), choice.toolchain), ("rust:1.90-slim-trixie", ToolchainKind::Rustup));
    assert!(choice.problem.is_none());
    let choice = choose(
        &facts(vec![krate("app", Some("1.93"), "2021", &[])], None),
        Some(&configured),
        ("app", "app"),
        &locked(&[]),
    );
    let problem = choice.problem.unwrap();
    assert!(
        problem.contains("requires Rust 1.93") && problem.contains("rust:1.90-slim-trixie has Rust 1.90"),
        "{problem}"
    );
}

#[test]
fn inheritance_is_read_from_the_manifest() {
    assert!(inherits("[package]\nname = \"a\"\nrust-version.workspace = true\n", "rust-version"));
    assert!(inherits("[package]\nname = \"a\"\nedition = { workspace = true }\n", "edition"));
    assert!(!inherits("[package]\nname = \"a\"\nrust-version = \"1.88\"\n", "rust-version"));
}

#[test]
fn a_locked_dependency_asks_for_its_rust_version() {
    // No member says anything; the lock (made by a newer cargo) holds uuid 1.29.3, which asks for 1.89.
    let app = || facts(vec![krate("app", None, "2021", &[])], None);
    let deps = locked(&[("cfg-if 1.0.5", "1.32"), ("uuid 1.29.3", "1.89.0"), ("time 0.3.55", "1.88.0")]);
    let choice = choose(&app(), None, ("app", "app"), &deps);
    assert_eq!((choice.image.as_str(), choice.required.as_deref()), ("debian:forky-slim", Some("1.89")));
    assert_eq!(choice.because, "uuid 1.29.3 in Cargo.lock: its package.rust-version = \"1.89\"");
    assert!(choice.problem.is_none());
    // A member asking for more wins; one asking for less does not lower it.
    let higher = facts(vec![krate("app", Some("1.90"), "2021", &[])], None);
    assert_eq!(choose(&higher, None, ("app", "app"), &deps).required.as_deref(), Some("1.90"));
    let lower = facts(vec![krate("app", Some("1.80"), "2021", &[])], None);
    assert_eq!(choose(&lower, None, ("app", "app"), &deps).required.as_deref(), Some("1.89"));
    // Within trixie's 1.85: trixie stays; above every builder: refused, naming the crate.
    let choice = choose(&app(), None, ("app", "app"), &locked(&[("tokio 1.54.1", "1.85")]));
    assert_eq!(choice.image, "debian:trixie-slim");
    let problem = choose(&app(), None, ("app", "app"), &locked(&[("future 9.0.0", "1.99")])).problem.unwrap();
    assert!(problem.contains("requires Rust 1.99 (future 9.0.0 in Cargo.lock"), "{problem}");
    assert!(
        problem.contains("Lock an older future (`cargo update -p future --precise VERSION`), or name"),
        "{problem}"
    );
    // A configured builder below a dependency's need is refused, as for a member's.
    let configured =
        BuilderConfig { image: "rust:1.86-slim".into(), rust: "1.86".into(), toolchain: ToolchainKind::Rustup };
    let problem = choose(&app(), Some(&configured), ("app", "app"), &deps).problem.unwrap();
    assert!(problem.contains("requires Rust 1.89 (uuid 1.29.3") && problem.contains("has Rust 1.86"), "{problem}");
    assert!(problem.ends_with("or lock an older uuid (`cargo update -p uuid --precise VERSION`)"), "{problem}");
}
