use super::*;

fn inputs() -> Inputs {
    let file = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    Inputs {
        recipe: [file("Cargo.toml", "[workspace]\nmembers = [\"crates/beacon\"]\n")].into(),
        source: [file("crates/beacon/src/main.rs", &sha256(b"fn main() {}\n"))].into(),
        crates: vec!["itoa 1.0.11 registry+https://github.com/rust-lang/crates.io-index abc".to_owned()],
        dockerfile: ("FROM scratch AS runtime\n".to_owned(), Some("*\n".to_owned())),
        context: BTreeMap::new(),
        build_args: vec![file("PACKAGE", "beacon"), file("VCS_REF", "0123abc")],
        settings: vec![file("target", "service"), file("label org.opencontainers.image.version", "1.2.3")],
        builder: "default docker unix:///var/run/docker.sock v0.13.1".to_owned(),
        toolchain: vec![file("debian:trixie-slim", "sha256:1111")],
        platforms: vec!["linux/amd64".to_owned(), "linux/arm64".to_owned()],
    }
}

/// One change of one kind: it, and only it, is reported changed.
fn only_changed(kind: &str, change: impl FnOnce(&mut Inputs)) {
    let before = identity(&inputs());
    let mut changed_inputs = inputs();
    change(&mut changed_inputs);
    assert_eq!(changed(&before, &identity(&changed_inputs)), [kind], "a change of {kind}");
}

#[test]
fn the_same_inputs_have_the_same_identity() {
    assert_eq!(identity(&inputs()), identity(&inputs()));
    assert!(changed(&identity(&inputs()), &identity(&inputs())).is_empty());
}

#[test]
fn a_recipe_change_invalidates() {
    only_changed("recipe", |i| {
        i.recipe.insert("Cargo.lock".into(), "# masked\n".into());
    });
}

#[test]
fn a_source_change_invalidates() {
    only_changed("source", |i| {
        i.source.insert("crates/beacon/src/main.rs".into(), sha256(b"fn main() { }\n"));
    });
    only_changed("source", |i| {
        i.source.insert("crates/beacon/src/new.rs".into(), sha256(b""));
    });
    only_changed("source", |i| i.source.clear());
}

#[test]
fn a_vendored_crate_change_invalidates() {
    only_changed("vendored crates", |i| i.crates[0] = i.crates[0].replace("abc", "abd"));
}

#[test]
fn a_dockerfile_or_its_ignore_file_change_invalidates() {
    only_changed("dockerfile", |i| i.dockerfile.0.push_str("USER 1000\n"));
    only_changed("dockerfile", |i| i.dockerfile.1 = None);
}

#[test]
fn a_main_context_change_invalidates() {
    only_changed("context", |i| {
        i.context.insert("config/app.toml".into(), sha256(b"port = 1\n"));
    });
}

#[test]
fn a_build_arg_change_invalidates_even_when_only_the_order_differs() {
    only_changed("build args", |i| i.build_args[1].1 = "4567def".into());
    only_changed("build args", |i| i.build_args.push(("TZDATA".into(), "true".into())));
    only_changed("build args", |i| i.build_args.reverse());
}

#[test]
fn a_setting_change_invalidates() {
    only_changed("settings", |i| i.settings[0].1 = "runtime".into());
    only_changed("settings", |i| i.settings[1].1 = "1.2.4".into());
}

#[test]
fn a_builder_change_invalidates() {
    only_changed("builder", |i| i.builder = "remote remote tcp://10.0.0.2:1234 v0.13.1".into());
}

#[test]
fn a_toolchain_change_invalidates() {
    only_changed("toolchain", |i| i.toolchain[0].1 = "sha256:2222".into());
    only_changed("toolchain", |i| i.toolchain.push(("rust".into(), "1.88".into())));
}

#[test]
fn a_platform_change_invalidates() {
    only_changed("platforms", |i| {
        i.platforms.pop();
    });
    only_changed("platforms", |i| i.platforms.push("linux/riscv64".into()));
}

#[test]
fn a_record_of_another_scheme_or_without_an_identity_is_changed() {
    let now = identity(&inputs());
    let mut older = now.clone();
    older.insert("scheme".into(), sha256(b"xtask-build-inputs/0"));
    assert_eq!(changed(&older, &now), ["scheme"]);
    assert_eq!(changed(&Identity::new(), &now).len(), now.len());
}

#[test]
fn the_locked_crates_are_the_ones_with_a_source() {
    let lock = r#"
version = 4

[[package]]
name = "beacon"
version = "0.1.0"
dependencies = ["itoa"]

[[package]]
name = "itoa"
version = "1.0.11"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "49f1f14873335454500d59611f1cf4a4b0f786f9ac11f4312a78e4cf2566695b"
"#;
    assert_eq!(
        locked_crates(lock),
        ["itoa 1.0.11 registry+https://github.com/rust-lang/crates.io-index 49f1f14873335454500d59611f1cf4a4b0f786f9ac11f4312a78e4cf2566695b"]
    );
    assert_eq!(locked_crates("not toml ["), ["not toml ["]);
}

#[test]
fn the_main_context_is_read_by_copy_add_and_bind_mounts_outside_replaced_stages() {
    let replaced = ["recipe", "source", "vendor"];
    let ours = "FROM scratch AS recipe\nCOPY . /\nFROM scratch AS source\nCOPY . /\n\
                FROM debian AS build\nCOPY --from=source / ./\nCOPY <<'EOF' /etc/x\nCOPY a b\nEOF\n\
                RUN --mount=type=bind,from=recipe,target=/src \\\n  --mount=type=cache,target=/c true\n";
    assert!(!reads_main_context(ours, &replaced));
    assert!(reads_main_context("FROM debian\nCOPY config/ /etc/app/\n", &replaced));
    assert!(reads_main_context("FROM debian\nADD --chmod=644 app.toml /etc/\n", &replaced));
    assert!(reads_main_context("FROM debian\nRUN --mount=type=bind,target=/src make\n", &replaced));
    assert!(reads_main_context("FROM debian\nRUN --mount=target=/src make\n", &replaced));
}

#[test]
fn literal_base_images_leave_out_stages_scratch_and_args() {
    let text = "ARG BUILDER_IMAGE=debian:trixie-slim\nFROM --platform=$BUILDPLATFORM ${BUILDER_IMAGE} AS toolchain\n\
                FROM toolchain AS build\nFROM gcr.io/distroless/static:nonroot AS runtime\nFROM scratch\n";
    assert_eq!(literal_bases(text), ["gcr.io/distroless/static:nonroot"]);
}
