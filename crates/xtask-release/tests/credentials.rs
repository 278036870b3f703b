//! Credentials reach their own host only, and the login config that holds them does not outlive
//! the run. Two registries whose per-registry variables would be the same (`registry.example.com`
//! and `registry-example.com`), in the configuration or through `--registry`, are refused naming
//! both; the generic `REGISTRY_USERNAME`/`_PASSWORD` pair is refused for an overridden registry
//! before any `docker login`. A release sent SIGTERM while logged in removes its private docker
//! config and exits 143; one killed outright (SIGKILL) leaves it, and the next run removes it. Real
//! processes: the xtask, docker login, a registry with TLS and htpasswd.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use xtask_testbed::releaser::refused;
use xtask_testbed::*;

#[test]
fn credentials_are_for_their_own_host_and_the_generic_pair_never_for_an_override() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("credentials");
    let registry = SecureRegistry::start("releaser", &releaser::password());
    let namespace = registry.namespace();

    // A typo in the configuration: two hosts reading XTASK_REGISTRY_REGISTRY_EXAMPLE_COM_*.
    fixture.edit(
        "Cargo.toml",
        "repositories = [\"ghcr.io/acme-credentials/ledger\"]",
        "repositories = [\"registry.example.com/acme/ledger\"]",
    );
    fixture.edit("Cargo.toml", "\"docker.io/acme-credentials/ledgerctl\"", "\"registry-example.com/acme/ledgerctl\"");
    fixture.commit("a typo among the registries");
    let out = fixture.xtask(&["plan"]);
    refused(
        &out,
        &[
            "registry-example.com (workspace.metadata.xtask.images.ledgerctl.repositories[1]) and registry.example.com (workspace.metadata.xtask.images.ledger.repositories[0])",
            "XTASK_REGISTRY_REGISTRY_EXAMPLE_COM_USERNAME/_PASSWORD",
        ],
    );
    fixture.edit("Cargo.toml", "\"registry-example.com/acme/ledgerctl\"", "\"docker.io/acme-credentials/ledgerctl\"");
    fixture.commit("no typo");

    // A typo in the override: it would read the configured registry's variables.
    let out = fixture.xtask(&["plan", "--registry", "registry-example.com/acme"]);
    refused(&out, &["registry-example.com (--registry or XTASK_REGISTRY) and registry.example.com"]);

    // The generic pair with --registry: refused in preflight, and nothing logs in anywhere.
    let mut env = signing_env(&fixture.dir);
    env.push(("SSL_CERT_FILE".into(), registry.dir.join("bundle.pem").display().to_string()));
    let mut generic = env.clone();
    generic.push(("REGISTRY_USERNAME".into(), registry.user.clone()));
    generic.push(("REGISTRY_PASSWORD".into(), registry.password.clone()));
    let watch = Watch::start(&["docker", "login"]);
    let out = xtask_env(&fixture.dir, &["release", "--registry", &namespace, "--image", "ledger"], &generic);
    let logins = watch.finish();
    refused(
        &out,
        &[
            "REGISTRY_USERNAME/REGISTRY_PASSWORD are set, but this run's registry is overridden",
            &format!("Set {}_USERNAME/_PASSWORD for 127.0.0.1:{}", registry.credential_prefix(), registry.port),
            "<== preflight FAILED",
        ],
    );
    assert!(logins.is_empty(), "nothing may log in: {logins:?}");
    assert!(!stderr(&out).contains(&registry.password), "{}", stderr(&out));

    // Its own variables log in to it.
    let own: Vec<(String, String)> = env.iter().cloned().chain(registry.env()).collect();
    let out = xtask_env(&fixture.dir, &["release", "--registry", &namespace, "--image", "ledger"], &own);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("logged in to 127.0.0.1:{}", registry.port)), "{}", stderr(&out));
}

/// The private docker configs of process `pid` under `runtime`, and whether each holds a login.
fn configs_of(runtime: &Path, pid: u32) -> Vec<(PathBuf, bool)> {
    let prefix = format!("xtask-docker-config-{pid}-");
    std::fs::read_dir(runtime)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .map(|entry| {
            let config = std::fs::read_to_string(entry.path().join("config.json")).unwrap_or_default();
            (entry.path(), config.contains("\"auths\""))
        })
        .collect()
}

/// A release to `namespace` in the background, once it is logged in: the child and its config.
fn logged_in_release(
    fixture: &Fixture,
    namespace: &str,
    runtime: &Path,
    (env, log_name): (&[(String, String)], &str),
) -> (Child, PathBuf) {
    let args = ["release", "--execute", "--registry", namespace, "--image", "ledger"];
    let log = std::fs::File::create(runtime.join(log_name)).unwrap();
    let mut env = env.to_vec();
    env.push(("XDG_RUNTIME_DIR".into(), runtime.display().to_string()));
    let mut child = xtask_command(&fixture.dir, &args, &env).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some((config, true)) = configs_of(runtime, child.id()).into_iter().next() {
            return (child, config);
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the release never logged in: {}", std::fs::read_to_string(runtime.join(log_name)).unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every descendant of `pid` (read from /proc before it is signalled: they outlive it).
fn descendants(pid: u32) -> Vec<u32> {
    let parent_of = |child: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
        stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
    };
    let all: Vec<u32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    let mut found = vec![pid];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        found.extend(all.iter().filter(|p| parent_of(**p) == Some(parent)));
        index += 1;
    }
    found.split_off(1)
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: kill only reads its arguments.
    unsafe { libc::kill(pid as i32, signal) };
}

/// Signals the release and ends what it started (which a signal to it alone leaves running).
fn stop(mut child: Child, with: i32) -> std::process::ExitStatus {
    let started = descendants(child.id());
    signal(child.id(), with);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the release did not end on signal {with}");
        std::thread::sleep(Duration::from_millis(20));
    };
    for pid in started {
        signal(pid, libc::SIGKILL);
    }
    status
}

#[test]
fn the_login_config_does_not_outlive_sigterm_and_a_killed_run_s_is_removed_by_the_next() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("login-signals");
    fixture.one_platform_per_image();
    fixture.commit("one platform per image");
    let registry = SecureRegistry::start("releaser", &releaser::password());
    let env: Vec<(String, String)> = registry.env().into_iter().chain(signing_env(&fixture.dir)).collect();
    let runtime = RemovedOnDrop(std::env::temp_dir().join(format!("xtask-runtime-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&runtime.0);
    std::fs::create_dir_all(&runtime.0).unwrap();

    // SIGTERM while logged in: the config with the registry's token is removed, and the xtask
    // exits as a shell reports SIGTERM.
    let namespace = registry.namespace();
    let (child, config) = logged_in_release(&fixture, &namespace, &runtime.0, (&env, "sigterm.log"));
    let status = stop(child, libc::SIGTERM);
    let log = std::fs::read_to_string(runtime.0.join("sigterm.log")).unwrap();
    assert!(!config.exists(), "{} outlived SIGTERM:\n{log}", config.display());
    assert_eq!(status.code(), Some(143), "{status}:\n{log}");
    assert!(log.contains("interrupted (signal 15)"), "{log}");

    // SIGKILL leaves it (nothing can run); the next run that logs in removes it first.
    let (child, config) = logged_in_release(&fixture, &namespace, &runtime.0, (&env, "sigkill.log"));
    stop(child, libc::SIGKILL);
    assert!(config.exists(), "SIGKILL runs nothing: {} must still be there for this test", config.display());
    let mut next = env.clone();
    next.push(("XDG_RUNTIME_DIR".into(), runtime.0.display().to_string()));
    let out = xtask_env(&fixture.dir, &["release", "--registry", &namespace, "--image", "ledger"], &next);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!config.exists(), "the killed run's {} was left behind", config.display());
    let left: Vec<_> = std::fs::read_dir(&runtime.0).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.iter().all(|name| !name.to_string_lossy().starts_with("xtask-docker-config-")), "{left:?}");
}
