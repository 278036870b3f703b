//! Every dependency source cargo supports, released offline. The fixture `tests/fixtures/sources`
//! has a binary depending on a crate of a git repository, on crates.io's `itoa` patched with the
//! same repository's (`[patch.crates-io]`), and on a crate of a private registry. The test serves
//! those on this machine — a bare repository by `file://` URL, a sparse registry over loopback HTTP
//! that answers nothing without its token — and the release vendors them on the host, with the
//! token handed to cargo there only, and compiles them with `--network=none`: the image says where
//! each crate came from. The token is in no build context, build arg, provenance, record, log or
//! image layer; nor when it is written in the workspace's `.cargo/config.toml`.

use std::path::Path;
use std::process::Command;

use xtask_testbed::*;

const TOKEN: &str = "xtask-test-registry-token-5c0ffee";

/// Every file under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut queue = vec![dir.to_path_buf()];
    while let Some(path) = queue.pop() {
        if path.is_symlink() {
            continue;
        }
        if path.is_dir() {
            queue.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|window| window == needle.as_bytes()) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// The sources' copy under a scratch directory (`cargo package` writes into a crate's directory).
fn deps() -> RemovedOnDrop {
    let dir = std::env::temp_dir().join(format!("xtask-sources-deps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let from = package_dir().join("tests/fixtures/sources/deps");
    assert!(Command::new("cp").arg("-a").arg(&from).arg(&dir).status().unwrap().success());
    RemovedOnDrop(dir)
}

#[test]
fn git_patch_and_private_registry_dependencies_release_offline_and_the_token_stays_on_the_host() {
    let _engine = engine_lock();
    let deps = deps();
    let registry = SparseRegistry::start(TOKEN);
    registry.publish(&deps.0.join("altdep"), "altdep", "0.1.0");
    let git = GitCrates::new("sources");
    let read = |path: &str| std::fs::read_to_string(deps.0.join(path)).unwrap();
    let files = ["gitdep/Cargo.toml", "gitdep/src/lib.rs", "itoa/Cargo.toml", "itoa/src/lib.rs"];
    let texts: Vec<String> = files.iter().map(|f| read(f)).collect();
    git.commit(&files.iter().zip(&texts).map(|(f, t)| (*f, t.as_str())).collect::<Vec<_>>());

    let fixture = Fixture::copy_of(&package_dir().join("tests/fixtures/sources/app"), "sources");
    fixture.edit_all("Cargo.toml", "@GIT_URL@", &git.url());
    fixture.edit_all("crates/sourceprobe/Cargo.toml", "@GIT_URL@", &git.url());
    fixture.edit_all(".cargo/config.toml", "@REGISTRY_INDEX@", &registry.index());
    let table = "\n[workspace.metadata.xtask.images.sourceprobe]\npackage = \"sourceprobe\"\ntarget = \"runtime\"\n\
                 platforms = [\"linux/amd64\"]\nrepositories = [\"ghcr.io/acme-sources/sourceprobe\"]\n";
    let manifest = std::fs::read_to_string(fixture.dir.join("Cargo.toml")).unwrap();
    fixture.write("Cargo.toml", &(manifest + table));
    let token = ("CARGO_REGISTRIES_LOCAL_TOKEN".to_owned(), TOKEN.to_owned());
    let lock = Command::new("cargo")
        .args(["generate-lockfile", "--quiet"])
        .env(&token.0, &token.1)
        .current_dir(&fixture.dir)
        .output()
        .unwrap();
    assert!(lock.status.success(), "cargo generate-lockfile: {}", stderr(&lock));
    let locked = std::fs::read_to_string(fixture.dir.join("Cargo.lock")).unwrap();
    for source in [format!("git+{}", git.url()), registry.index()] {
        assert!(locked.contains(&source), "Cargo.lock names {source}:\n{locked}");
    }
    fixture.commit("dependencies from git, a git patch and a private registry");

    let out = fixture.xtask_env(&["plan"], std::slice::from_ref(&token));
    assert!(out.status.success() && !String::from_utf8_lossy(&out.stdout).contains(TOKEN), "{}", stderr(&out));
    let images = Registry::start();
    let namespace = format!("{}/acme", images.host());
    let mut env = signing_env(&fixture.dir);
    env.push(token.clone());
    let out = fixture.xtask_env(&["release", "--execute", "--registry", &namespace], &env);
    let err = stderr(&out);
    assert!(out.status.success(), "the release failed:\n{err}");
    assert!(!err.contains(TOKEN), "the token is in the output:\n{err}");
    assert!(images.tags("acme/sourceprobe").contains(&"0.4.0".to_owned()));
    let downloads: Vec<(String, bool)> = registry.requests.lock().unwrap().clone();
    assert!(downloads.iter().any(|(path, with_token)| path == "/dl/altdep/0.1.0" && *with_token), "{downloads:?}");

    let record = read_json(&fixture.dir.join("target/xtask/build-record.json"));
    let reference = record["images"][0]["local_ref"].as_str().unwrap().to_owned();
    let ran = docker_ok(&["run", "--rm", "--platform", "linux/amd64", &reference]);
    assert_eq!(
        ran.lines().collect::<Vec<_>>(),
        ["gitdep: from a git repository", "altdep: from a private registry", "itoa: patched from a git repository"]
    );
    let log = std::fs::read_to_string(fixture.dir.join("target/xtask/build/sourceprobe/build.log")).unwrap();
    assert!(log.contains("RUN --network=none"), "the compiles run offline:\n{log}");
    assert_eq!(files_containing(&fixture.dir.join("target/xtask"), TOKEN), Vec::<String>::new());
    let container = docker_ok(&["create", "--platform", "linux/amd64", &reference]);
    let export = Command::new("docker").args(["export", &container]).output().unwrap();
    let _ = docker(&["rm", &container]);
    assert!(!export.stdout.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "the token is in the image");

    // Written in the workspace's `.cargo/config.toml` (cargo reads it there): still only on the host.
    fixture.edit(".cargo/config.toml", "index = ", &format!("token = \"{TOKEN}\"\nindex = "));
    fixture.commit("the registry token in .cargo/config.toml");
    let out = fixture.xtask(&["build", "--rebuild"]);
    assert!(out.status.success(), "build with the token in .cargo/config.toml:\n{}", stderr(&out));
    assert_eq!(files_containing(&fixture.dir.join("target/xtask"), TOKEN), Vec::<String>::new());
}
