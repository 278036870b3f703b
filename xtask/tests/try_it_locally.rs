//! The README's first command, `cargo xtask release --execute --local`, run as written in a fresh
//! copy of the workspace: it must start its own registry on 127.0.0.1 and its own signing key,
//! release every image and platform there (scanned with the full policy, signed, verified, floating
//! tags moved), leave the registry running, and print lines that work: the `docker run` that pulls
//! an image back and runs it, and the `cosign verify` that checks its signature. A second run with a
//! registry credential in the environment is refused before anything is built.

mod support;

use std::process::Command;

use support::*;

/// The README's line that runs the main job on this machine.
fn readme_command() -> Vec<String> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("cargo xtask release --execute --local"))
        .expect("the README starts the main job with `cargo xtask release --execute --local`");
    let command = line.split('#').next().unwrap();
    command.split_whitespace().skip(2).map(str::to_owned).collect()
}

/// Removes the registry the command leaves running, and the images it leaves in the engine.
struct Cleanup {
    dir: std::path::PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let name = std::fs::read_to_string(self.dir.join("target/xtask/local/registry")).unwrap_or_default();
        if !name.trim().is_empty() {
            let port = docker(&["port", name.trim(), "5000/tcp"]);
            let port = String::from_utf8_lossy(&port.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .rsplit(':')
                .next()
                .unwrap_or("")
                .to_owned();
            let _ = docker(&["rm", "--force", "--volumes", name.trim()]);
            if !port.is_empty() {
                untag_local(&format!("127.0.0.1:{port}"));
            }
        }
    }
}

/// Runs one line the xtask printed (plain words, no quoting), returning stdout and stderr.
fn run_printed(line: &str) -> (bool, String) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let out = Command::new(words[0]).args(&words[1..]).output().unwrap_or_else(|e| panic!("run {line}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    eprintln!("--- {line} → {}\n{text}", out.status);
    (out.status.success(), text)
}

#[test]
fn the_readme_command_releases_everything_to_a_local_registry_it_leaves_running() {
    let _engine = engine_lock();
    let args = readme_command();
    assert_eq!(args, ["release", "--execute", "--local"]);
    let fixture = copy_of_repository("try-it-locally");
    let _cleanup = Cleanup { dir: fixture.dir.clone() };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = xtask_env(&fixture.dir, &args, &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "the README's command failed");

    // Every image and platform released, scanned with the full policy, signed, floating tags moved.
    let record = read_json(&fixture.dir.join("target/xtask/release-record.json"));
    let version = record["version"].as_str().unwrap().to_owned();
    assert_eq!(record["scan"]["policy"]["scanners"], serde_json::json!(["vuln", "secret", "misconfig"]));
    let images = record["images"].as_array().unwrap();
    assert_eq!(images.len(), 2, "beacon and beaconctl");
    let host = images[0]["tags_pushed"][0].as_str().unwrap().split('/').next().unwrap().to_owned();
    assert!(host.starts_with("127.0.0.1:"), "{host}");
    assert!(err.contains(&format!("{host}: plain HTTP (loopback)")), "reached over plain HTTP");
    for image in images {
        let name = image["name"].as_str().unwrap();
        let repository = format!("{host}/local/{name}");
        assert_eq!(image["tags_pushed"], serde_json::json!([format!("{repository}:{version}")]));
        let floating: Vec<&str> =
            image["floating_tags"].as_array().unwrap().iter().filter_map(|t| t.as_str()).collect();
        assert!(floating.contains(&format!("{repository}:latest").as_str()), "floating tags moved: {floating:?}");
        assert_eq!(image["scan"]["passed"], true);
        let signatures = image["signatures"].as_array().unwrap();
        assert!(!signatures.is_empty(), "{name} is signed");
        let platforms = image["platforms"].as_object().unwrap().len();
        for signature in signatures {
            let attestations = signature["attestations"].as_array().unwrap();
            assert_eq!(attestations.len(), platforms, "{name}: each platform attested: {attestations:?}");
        }
    }
    let variants: usize = images.iter().map(|i| i["platforms"].as_object().unwrap().len()).sum();
    assert_eq!(variants, 2 + 6, "every configured platform of beacon (2) and beaconctl (6)");

    // The key stays, with its public half, for the user's own verification.
    for file in ["cosign.key", "cosign.pub", "cosign.password", "registry"] {
        assert!(fixture.dir.join("target/xtask/local").join(file).exists(), "target/xtask/local/{file}");
    }

    // The printed lines work as printed (run from the workspace, where the key's path is relative).
    let pull =
        err.lines().map(str::trim).find(|l| l.starts_with("docker run --pull always")).expect("a docker run line");
    let (ok, text) = run_printed(pull);
    assert!(ok && text.contains(&format!(" {version} (")), "the image pulled back from the registry runs");
    let verify =
        err.lines().map(str::trim).find(|l| l.starts_with("cosign verify --key")).expect("a cosign verify line");
    let verify = verify.replace("target/", &format!("{}/target/", fixture.dir.display()));
    let (ok, text) = run_printed(&verify);
    assert!(ok && text.contains(&format!("\"docker-reference\":\"{host}/local/")), "the signature verifies");
    let remove = err.lines().find_map(|l| l.split("remove the registry with: ").nth(1)).expect("how to remove it");
    let name = std::fs::read_to_string(fixture.dir.join("target/xtask/local/registry")).unwrap();
    assert_eq!(remove.trim(), format!("docker rm --force --volumes {}", name.trim()));
    let running = docker_ok(&["inspect", "--format", "{{.State.Running}}", name.trim()]);
    assert_eq!(running.trim(), "true", "the registry is left running");

    // A credential that would be sent to it is refused, before anything is built; the registry is reused.
    let credential =
        [("REGISTRY_USERNAME".to_owned(), "me".to_owned()), ("REGISTRY_PASSWORD".to_owned(), "secret".to_owned())];
    let refused = xtask_env(&fixture.dir, &args, &credential);
    let message = stderr(&refused);
    assert!(!refused.status.success());
    assert!(
        message.contains("never sends registry credentials") && message.contains("REGISTRY_USERNAME/REGISTRY_PASSWORD"),
        "{message}"
    );
    assert!(message.contains(&format!("local registry {host}")), "the same registry is reused: {message}");
    assert!(!message.contains("secret"), "the password is never printed");
    assert!(!message.contains("==> build"), "nothing was built: {message}");
}
