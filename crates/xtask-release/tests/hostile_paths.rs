//! A hostile configuration and a hostile file system. A Dockerfile, a build context and the scan's
//! ignore file must be the workspace's own: an absolute path, `..`, or a symlink out of the
//! workspace is refused, naming the key, before anything is built; so is an `insecure-registries`
//! range of the public internet (`0.0.0.0/0`) or a wide one. A workspace whose path holds a comma
//! builds into its own directory (buildx's `--output` is one CSV record, quoted). A symlink planted
//! where the engine writes a record is refused, and the file it points at stays untouched.

use std::path::{Path, PathBuf};

use xtask_testbed::*;

/// `release` (a dry run: preflight only) to `registry`, which must be refused saying each of `needles`.
fn refused(fixture: &Fixture, registry: &Registry, needles: &[&str]) {
    let namespace = format!("{}/acme", registry.host());
    let env = signing_env(&fixture.dir);
    let out = xtask_env(&fixture.dir, &["release", "--registry", &namespace, "--image", "ledger"], &env);
    let err = stderr(&out);
    assert!(!out.status.success(), "must be refused:\n{err}");
    assert!(!err.contains("==> build"), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "the refusal should say {needle:?}:\n{err}");
    }
}

fn change(fixture: &Fixture, from: &str, to: &str) {
    fixture.edit("Cargo.toml", from, to);
    fixture.commit(to);
}

fn symlink(target: &Path, link: &Path) {
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(target, link).unwrap();
}

#[test]
fn files_outside_the_workspace_and_wide_insecure_ranges_are_refused() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("hostile");
    fixture.eject_dockerfile();
    let registry = Registry::start();
    let outside = RemovedOnDrop(std::env::temp_dir().join(format!("xtask-outside-{}", std::process::id())));
    std::fs::create_dir_all(outside.0.join("context")).unwrap();
    let dockerfile = std::fs::read_to_string(fixture.dir.join("docker/Dockerfile")).unwrap();
    std::fs::write(outside.0.join("Dockerfile"), &dockerfile).unwrap();
    std::fs::write(outside.0.join("trivyignore"), "XTASK-0001 exp:2099-01-01\n").unwrap();
    let key = "workspace.metadata.xtask.images.ledger";
    // The ledger image's last key, which `init --eject-dockerfile` follows with `dockerfile`.
    let ledger = "repositories = [\"ghcr.io/acme-hostile/ledger\"]\n";

    // Up and out, and absolute: refused by the configuration itself.
    let up = format!("../{}/Dockerfile", outside.0.file_name().unwrap().to_string_lossy());
    let dockerfile_key = |path: &str| format!("{ledger}dockerfile = \"{path}\"\n");
    let ejected = format!("{ledger}dockerfile = \"docker/Dockerfile\"\n");
    assert!(std::fs::read_to_string(fixture.dir.join("Cargo.toml")).unwrap().contains(&ejected));
    change(&fixture, &ejected, &dockerfile_key(&up));
    refused(&fixture, &registry, &[&format!("{key}.dockerfile: {up:?} leads out of the workspace (`..`)")]);
    let absolute = outside.0.join("Dockerfile").display().to_string();
    change(&fixture, &dockerfile_key(&up), &dockerfile_key(&absolute));
    refused(&fixture, &registry, &[&format!("{key}.dockerfile: {absolute:?} is an absolute path")]);
    change(&fixture, &dockerfile_key(&absolute), &ejected);

    // Symlinks out of the workspace: refused by preflight, which resolves them.
    symlink(&outside.0.join("Dockerfile"), &fixture.dir.join("docker/Dockerfile"));
    fixture.commit("the Dockerfile, a symlink out of the workspace");
    let through = format!(
        "{key}.dockerfile: docker/Dockerfile leads out of the workspace, to {}",
        outside.0.join("Dockerfile").display()
    );
    refused(&fixture, &registry, &["<== preflight FAILED", &through]);
    std::fs::remove_file(fixture.dir.join("docker/Dockerfile")).unwrap();
    fixture.write("docker/Dockerfile", &dockerfile);
    symlink(&outside.0.join("context"), &fixture.dir.join("context"));
    change(&fixture, &ejected, &format!("{ejected}context = \"context\"\n"));
    refused(
        &fixture,
        &registry,
        &[&format!("{key}.context: context leads out of the workspace, to {}", outside.0.join("context").display())],
    );
    change(&fixture, &format!("{ejected}context = \"context\"\n"), &ejected);
    symlink(&outside.0.join("trivyignore"), &fixture.dir.join(".trivyignore"));
    fixture.commit("the ignore file, a symlink out of the workspace");
    refused(
        &fixture,
        &registry,
        &["workspace.metadata.xtask.scan.ignorefile: .trivyignore leads out of the workspace"],
    );
    std::fs::remove_file(fixture.dir.join(".trivyignore")).unwrap();
    fixture.commit("no ignore file");

    // Plain HTTP to the whole internet, or to a whole private network.
    for range in ["0.0.0.0/0", "10.0.0.0/8"] {
        let listed = format!("release-branches = [\"main\"]\ninsecure-registries = [\"{range}\"]");
        change(&fixture, "release-branches = [\"main\"]", &listed);
        refused(
            &fixture,
            &registry,
            &[&format!("workspace.metadata.xtask.insecure-registries[0]: \"{range}\" would allow plain HTTP")],
        );
        change(&fixture, &listed, "release-branches = [\"main\"]");
    }

    // What remains is the workspace's own: the same dry run passes.
    let namespace = format!("{}/acme", registry.host());
    let out = xtask_env(
        &fixture.dir,
        &["release", "--registry", &namespace, "--image", "ledger"],
        &signing_env(&fixture.dir),
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_workspace_path_with_a_comma_builds_and_a_planted_symlink_is_never_written_through() {
    let _engine = engine_lock();
    // `,name=…` in the path would add an option to buildx's `--output` if it were not quoted.
    let fixture = Fixture::copy_of(&package_dir().join("tests/fixtures/ledger"), "comma,name=evil");
    fixture.edit_all("Cargo.toml", "ghcr.io/acme/", "ghcr.io/acme-comma/");
    fixture.edit_all("Cargo.toml", "docker.io/acme/", "docker.io/acme-comma/");
    fixture.one_platform_per_image();
    fixture.commit("fixture");
    let out_dir = fixture.dir.join("target/xtask/image-ledger");
    std::fs::create_dir_all(&out_dir).unwrap();
    let victim = RemovedOnDrop(std::env::temp_dir().join(format!("xtask-victim-{}", std::process::id())));
    std::fs::write(&victim.0, "not the engine's to write\n").unwrap();
    let record: PathBuf = out_dir.join("build-record.json");
    symlink(&victim.0, &record);

    let out = fixture.xtask(&["build", "--image", "ledger"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&format!("{} is a symbolic link", record.display())), "{err}");
    assert_eq!(std::fs::read_to_string(&victim.0).unwrap(), "not the engine's to write\n");

    std::fs::remove_file(&record).unwrap();
    let out = fixture.xtask(&["build", "--image", "ledger"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&record).unwrap().is_file());
    let built = read_json(&record);
    let archive = PathBuf::from(built["images"][0]["archive"].as_str().unwrap());
    assert!(archive.starts_with(&fixture.dir) && archive.is_file(), "{}", archive.display());
    let stray: Vec<_> = std::fs::read_dir(&out_dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(stray.iter().all(|name| !name.to_string_lossy().starts_with('.')), "temporary files left: {stray:?}");
}
