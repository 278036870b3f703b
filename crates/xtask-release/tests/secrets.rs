//! No child sees a secret but the one step that needs it. A build script of the workspace records
//! the environment it is run with by the `cargo clippy` of `cargo xtask ci` (CI's job, where the
//! Actions cache token is exposed): none of the secrets set for the xtask is in it. And every
//! program a release's preflight runs (docker, buildx, git, trivy, curl, cosign, cargo), each
//! through a wrapper that records its environment before it runs the real one: registry
//! passwords, GitHub's tokens and the cosign key reach none of them, but the key and its password
//! reach `cosign public-key` (which opens the key), and the registry password reaches `docker
//! login` on its stdin (which logs in to a real registry with TLS and htpasswd).

use std::path::Path;

use xtask_testbed::*;

/// A secret per variable the engine withholds, each value unique to this run.
fn secrets() -> Vec<(String, String)> {
    let pid = std::process::id();
    [
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "REGISTRY_USERNAME",
        "REGISTRY_PASSWORD",
        "XTASK_REGISTRY_GHCR_IO_PASSWORD",
        "XTASK_REGISTRY_GHCR_IO_USERNAME",
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "COSIGN_PASSWORD",
        "COSIGN_PRIVATE_KEY",
    ]
    .iter()
    .map(|name| (name.to_string(), format!("secret-{}-{pid}-Xq7", name.to_lowercase().replace('_', "-"))))
    .collect()
}

/// The secrets of `secrets` that `recorded` (an environment, as `env` prints it) holds.
fn seen<'a>(recorded: &str, secrets: &'a [(String, String)]) -> Vec<&'a str> {
    secrets.iter().filter(|(_, value)| recorded.contains(value.as_str())).map(|(name, _)| name.as_str()).collect()
}

const RECORDING_BUILD_SCRIPT: &str = r#"//! Records the environment it runs with, then stops the build.
fn main() {
    let seen: String = std::env::vars().map(|(name, value)| format!("{name}={value}\n")).collect();
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    std::fs::write(format!("{dir}/../../environment-of-the-build-script"), seen).unwrap();
    panic!("environment recorded");
}
"#;

#[test]
fn a_build_script_run_by_cargo_xtask_ci_sees_no_secret() {
    let fixture = Fixture::ledger("secrets-ci");
    fixture.write("crates/ledger/build.rs", RECORDING_BUILD_SCRIPT);
    // `ci` starts with `cargo fmt --check`: the copy formatted as its own rustfmt has it.
    let fmt = std::process::Command::new("cargo").args(["fmt", "--all"]).current_dir(&fixture.dir).status().unwrap();
    assert!(fmt.success(), "cargo fmt in the fixture");
    fixture.commit("a build script that records its environment");
    let secrets = secrets();
    let mut env = secrets.clone();
    env.push(("XTASK_TEST_VISIBLE".into(), "a variable that is no secret".into()));
    let out = xtask_env(&fixture.dir, &["ci"], &env);
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("environment recorded"), "clippy runs the build script:\n{err}");
    let recorded = std::fs::read_to_string(fixture.dir.join("environment-of-the-build-script")).unwrap();
    assert!(recorded.contains("XTASK_TEST_VISIBLE=a variable that is no secret"), "the recording works:\n{recorded}");
    assert_eq!(seen(&recorded, &secrets), Vec::<&str>::new(), "secrets a build script saw");
}

/// Wrappers in `dir` for `programs`: each writes its arguments and environment to a new file in
/// `log`, then runs the real program (found on `PATH` now) with the same arguments and stdin.
fn recording_wrappers(dir: &Path, log: &Path, programs: &[&str]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::create_dir_all(log).unwrap();
    for program in programs {
        let which = std::process::Command::new("sh").args(["-c", &format!("command -v {program}")]).output().unwrap();
        let real = String::from_utf8(which.stdout).unwrap().trim().to_owned();
        assert!(!real.is_empty(), "{program} is not installed");
        let script = format!(
            "#!/bin/sh\nrecord=$(mktemp '{}/{program}.XXXXXX')\n{{ printf '%s\\n' \"{program} $*\"; env; }} > \"$record\"\nexec '{real}' \"$@\"\n",
            log.display()
        );
        let path = dir.join(program);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn every_child_of_a_release_sees_only_the_secret_of_its_own_step() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("secrets-children");
    let registry = SecureRegistry::start("releaser", &releaser::password());
    let wrappers = RemovedOnDrop(std::env::temp_dir().join(format!("xtask-wrappers-{}", std::process::id())));
    let log = wrappers.0.join("log");
    recording_wrappers(&wrappers.0.join("bin"), &log, &["docker", "git", "trivy", "curl", "cosign", "cargo"]);

    // Everything withheld, with the real key and the registry's real credentials among them.
    let mut secrets: Vec<(String, String)> = secrets()
        .into_iter()
        .filter(|(name, _)| !name.starts_with("REGISTRY_") && !name.starts_with("COSIGN_"))
        .collect();
    let key = signing_env(&fixture.dir);
    secrets.extend(key.iter().cloned());
    secrets.extend(registry.env().into_iter().filter(|(name, _)| name.ends_with("_PASSWORD")));
    let path = format!("{}:{}", wrappers.0.join("bin").display(), std::env::var("PATH").unwrap());
    let mut env: Vec<(String, String)> = registry.env().into_iter().chain(key).collect();
    env.extend(secrets.iter().cloned());
    env.push(("PATH".into(), path));
    let out = xtask_env(&fixture.dir, &["release", "--registry", &registry.namespace(), "--image", "ledger"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("logged in to 127.0.0.1:{}", registry.port)), "{}", stderr(&out));

    let mut steps = Vec::new();
    for entry in std::fs::read_dir(&log).unwrap().flatten() {
        let recorded = std::fs::read_to_string(entry.path()).unwrap();
        let command = recorded.lines().next().unwrap_or_default().to_owned();
        steps.push((command, seen(&recorded, &secrets)));
    }
    let programs: Vec<&str> = steps.iter().filter_map(|(c, _)| c.split(' ').next()).collect();
    for program in ["docker", "git", "trivy", "cosign", "cargo"] {
        assert!(programs.contains(&program), "{program} never ran: {programs:?}");
    }
    assert!(steps.iter().any(|(c, _)| c.starts_with("docker login")), "logged in: {steps:?}");
    let key_names = ["COSIGN_PRIVATE_KEY", "COSIGN_PASSWORD"];
    for (command, seen) in &steps {
        if command.starts_with("cosign public-key") {
            assert_eq!(seen, &key_names, "the key's step gets the key, and nothing else");
        } else {
            assert!(seen.is_empty(), "`{command}` saw {seen:?}");
        }
    }
    assert!(steps.iter().any(|(c, _)| c.starts_with("cosign public-key")), "the key was opened: {steps:?}");
}
