//! `cargo xtask audit` and `cargo xtask release notes` end to end, on one platform, against a real
//! registry with TLS and auth, real cosign and trivy DBs built by the testbed's generator: 1.0.0
//! released under a clean DB (its lock one `itoa` patch behind) is reported with its floating tags
//! once a HIGH advisory for that `itoa` appears (fixed version named, valid SARIF, non-zero exit),
//! while an advisory for a crate no image has changes nothing; 1.0.1 (itoa upgraded, `semver`
//! added) gets notes listing exactly that, the advisory fixed and the sizes, and leaves `latest`
//! clean while 1.0.0 stays affected, fixed in 1.0.1; a retracted version is not audited; a
//! tampered attestation fails naming the tag, a missing one falls back to a scan by digest; an
//! unknown --from, a stale DB and an unreachable registry are each one clear error. The audit trusts
//! only the release's own evidence: every SBOM attestation the release's key signed is read (an
//! extra clean one hides nothing), one signed by another key is ignored and named, and a live tag
//! on an unsigned digest, or a floating one on a digest no live release has, fails naming the tag.

use std::process::{Command, Output};

use xtask_testbed::releaser::*;
use xtask_testbed::*;

const HIGH: &str = "XTASK-2099-0101";
const ABSENT: &str = "XTASK-2099-0102";

fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(&out.stdout)))
}

/// tag → (version, passed, IDs of its findings), from `audit --json`.
fn tags_of(report: &serde_json::Value) -> Vec<(String, String, bool, Vec<String>)> {
    report["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let ids = t["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect();
            (
                t["tag"].as_str().unwrap().to_owned(),
                t["version"].as_str().unwrap_or("?").to_owned(),
                t["passed"].as_bool().unwrap(),
                ids,
            )
        })
        .collect()
}

#[test]
fn live_tags_are_audited_and_notes_come_from_the_sboms() {
    let started = std::time::Instant::now();
    let _engine = engine_lock();
    let r = Releaser::new("audit");
    let f = &r.fixture;
    f.retry_once();
    let mirror = DbMirror::start();
    let absent = advisory(ABSENT, "no-such-crate-here", ">=0.1.0", Some("9.9.9"), "CRITICAL");
    let clean_db = mirror.push("clean", &absent, "0");
    let high = advisory(HIGH, "itoa", ">=1.0.0, <1.0.19", Some("1.0.19"), "HIGH");
    let high_db = mirror.push("high", &[high.as_str(), absent.as_str()].concat(), "0");
    let stale_db = mirror.push("stale", &absent, "240h");
    let with_db = |db: &str| {
        let mut env = r.env.clone();
        env.push(("XTASK_TRIVY_DB_REPOSITORY".into(), db.to_owned()));
        env
    };
    let namespace = r.registry.namespace();
    let public_key = f.dir.join("target/xtask/image-ledger/cosign.pub");
    let key_copy = f.dir.join("target/release-key.pub");
    let audit = |db: &str, extra: &[&str]| {
        let mut args = vec!["audit", "--registry", &namespace, "--image", "ledger", "--public-key"];
        let key = key_copy.to_str().unwrap();
        args.push(key);
        args.extend(extra);
        r.run_watched(&args, &with_db(db))
    };

    // 1.0.0: its lock one itoa patch behind the fixture's, released under a clean DB.
    let cargo = |args: &[&str]| {
        let out = Command::new("cargo").args(args).current_dir(&f.dir).output().unwrap();
        assert!(out.status.success(), "cargo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    cargo(&["update", "--offline", "--quiet", "-p", "itoa", "--precise", "1.0.18"]);
    f.commit("itoa 1.0.18");
    r.set_version("1.0.0");
    succeeded(&r.release_with(&with_db(&clean_db)), "release 1.0.0");
    std::fs::copy(&public_key, &key_copy).unwrap();

    // Today's DB knows only a crate no image has: nothing changes, every live tag passes.
    let out = audit(&clean_db, &["--json"]);
    succeeded(&out, "the audit under a DB without advisories for the image");
    let tags = tags_of(&json_of(&out));
    let names: Vec<&str> = tags.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names, ["1.0.0", "1.0", "1", "latest"], "the live tags: the version, then the floating tags");
    assert!(tags.iter().all(|t| t.2 && t.3.is_empty()), "{tags:?}");

    // A HIGH advisory for the image's itoa: 1.0.0 and every floating tag on it are affected.
    let sarif_path = f.dir.join("target/audit.sarif");
    let summary_path = f.dir.join("target/audit.md");
    let out = audit(&high_db, &["--sarif", sarif_path.to_str().unwrap(), "--summary", summary_path.to_str().unwrap()]);
    assert!(!out.status.success(), "an affected live tag fails the audit");
    let err = stderr(&out);
    assert!(err.contains("4 live tag(s) fail the scan policy"), "{err}");
    assert!(err.contains(&format!("{namespace}/ledger:latest")), "{err}");
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        table.contains(&format!(
            "{HIGH} (HIGH) in itoa 1.0.18, linux/amd64: new since release, fixed upstream in 1.0.19"
        )),
        "the table names the advisory, crate, version and fix:\n{table}"
    );
    assert!(!table.contains(ABSENT), "{table}");
    let sarif = read_json(&sarif_path);
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["rules"][0]["id"], HIGH);
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "one result per affected live tag: {results:?}");
    for result in results {
        assert_eq!((result["ruleId"].as_str(), result["level"].as_str()), (Some(HIGH), Some("error")));
        assert_eq!(result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "Cargo.lock");
        assert!(result["message"]["text"].as_str().unwrap().contains("fixed upstream in 1.0.19"));
    }
    let summary = std::fs::read_to_string(&summary_path).unwrap();
    assert!(
        summary.contains("## Audit of live tags: 4 of 4 affected") && summary.contains("| ledger | `latest` | 1.0.0 |"),
        "{summary}"
    );

    // 1.0.1: itoa upgraded to the fixed 1.0.19, semver added.
    f.edit("crates/ledger/Cargo.toml", "[dependencies]\n", "[dependencies]\nsemver = \"1\"\n");
    cargo(&["update", "--offline", "--quiet", "-p", "itoa", "--precise", "1.0.19"]);
    f.commit("itoa 1.0.19, and semver");
    r.set_version("1.0.1");
    // As the release workflow runs it, from the tag: the record carries the notes.
    let release = ["release", "--execute", "--ref", "refs/tags/v1.0.1", "--registry", &namespace, "--image", "ledger"];
    succeeded(&r.run_watched(&release, &with_db(&high_db)), "release 1.0.1");
    let recorded = &r.record()["images"][0]["notes"];
    assert_eq!(
        (recorded["from"]["version"].as_str(), recorded["to"]["version"].as_str()),
        (Some("1.0.0"), Some("1.0.1"))
    );
    assert_eq!(recorded["advisories_fixed"], serde_json::json!([HIGH]), "{recorded}");

    let notes_of = |extra: &[&str]| {
        let mut args = vec!["release", "notes", "--registry", &namespace, "--image", "ledger", "--public-key"];
        args.push(key_copy.to_str().unwrap());
        args.extend(extra);
        r.run_watched(&args, &with_db(&high_db))
    };
    let notes = notes_of(&["--json"]);
    succeeded(&notes, "release notes");
    let notes = json_of(&notes);
    assert_eq!(
        (notes["from"].as_str(), notes["to"].as_str()),
        (Some("1.0.0"), Some("1.0.1")),
        "the previous release of the line"
    );
    let image = &notes["images"][0];
    let platform = &image["platforms"][0];
    assert_eq!(platform["platform"], "linux/amd64");
    let cargo_only = |list: &serde_json::Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .filter(|p| p["ecosystem"] == "cargo")
            .map(|p| match p.get("from") {
                Some(from) => format!(
                    "{} {} → {}",
                    p["name"].as_str().unwrap(),
                    from.as_str().unwrap(),
                    p["to"].as_str().unwrap()
                ),
                None => format!("{} {}", p["name"].as_str().unwrap(), p["version"].as_str().unwrap()),
            })
            .collect()
    };
    let packages = &platform["packages"];
    // The image's own library crate moves with the workspace version: it is inside the image too.
    let upgraded = ["itoa 1.0.18 → 1.0.19", "ledger-core 1.0.0 → 1.0.1"];
    assert_eq!(cargo_only(&packages["upgraded"]), upgraded, "{packages}");
    assert_eq!(cargo_only(&packages["added"]), ["semver 1.0.28"], "{packages}");
    assert_eq!(cargo_only(&packages["removed"]), Vec::<String>::new(), "{packages}");
    assert_eq!(image["advisories_fixed"], serde_json::json!([HIGH]));
    assert_eq!(image["advisories_introduced"], serde_json::json!([]));
    assert!(platform["size_from"].as_u64().unwrap() > 0 && platform["size_to"].as_u64().unwrap() > 0, "{platform}");
    // Sizes as pushed: the (one-platform) manifest's config and compressed layers.
    let manifest = r.registry.manifest("ledger", "1.0.1");
    let layers: u64 = manifest["layers"].as_array().unwrap().iter().map(|l| l["size"].as_u64().unwrap()).sum();
    assert_eq!(platform["size_to"].as_u64(), Some(layers + manifest["config"]["size"].as_u64().unwrap()));
    assert_eq!(image["to"]["digest"].as_str(), r.tags().get("1.0.1").map(String::as_str));
    let markdown = std::fs::read_to_string(f.dir.join("target/xtask/image-ledger/release-notes.md")).unwrap();
    assert!(
        markdown.contains("- upgraded: itoa 1.0.18 → 1.0.19") && markdown.contains("- added: semver 1.0.28"),
        "{markdown}"
    );
    let out = notes_of(&["--from", "0.9.0"]);
    assert!(
        !out.status.success()
            && stderr(&out)
                .contains("--from 0.9.0: no live release has that version (released, not retracted: 1.0.0, 1.0.1)"),
        "{}",
        stderr(&out)
    );

    // The audit now: 1.0.0 affected (fixed in 1.0.1), latest and the other floating tags clean.
    let out = audit(&high_db, &["--json"]);
    assert!(!out.status.success(), "1.0.0 is live and affected");
    let report = json_of(&out);
    let tags = tags_of(&report);
    let summary: Vec<(&str, &str, bool)> = tags.iter().map(|t| (t.0.as_str(), t.1.as_str(), t.2)).collect();
    assert_eq!(
        summary,
        [
            ("1.0.1", "1.0.1", true),
            ("1.0.0", "1.0.0", false),
            ("1.0", "1.0.1", true),
            ("1", "1.0.1", true),
            ("latest", "1.0.1", true)
        ]
    );
    let old = report["tags"].as_array().unwrap().iter().find(|t| t["tag"] == "1.0.0").unwrap();
    assert_eq!(old["findings"][0]["fixed_in_release"], "1.0.1", "the newer release ships the fix: {old}");

    // Retracted, 1.0.0 is no longer live: the audit passes.
    succeeded(&r.retract(&["1.0.0", "--reason", "itoa advisory", "--execute"]), "retract 1.0.0");
    let out = audit(&high_db, &["--json"]);
    succeeded(&out, "the audit once 1.0.0 is retracted");
    let names: Vec<String> = tags_of(&json_of(&out)).into_iter().map(|t| t.0).collect();
    assert_eq!(names, ["1.0.1", "1.0", "1", "latest"]);

    // Bad input: no vuln scanner, a stale DB, an unreachable registry: one clear error each.
    let out = audit(&high_db, &["--scanners", "secret"]);
    assert!(!out.status.success() && stderr(&out).contains("nothing to audit: add vuln"), "{}", stderr(&out));
    let out = audit(&stale_db, &[]);
    assert!(!out.status.success() && stderr(&out).contains("no usable vulnerability DB"), "{}", stderr(&out));
    let down = format!("127.0.0.1:{}/acme", free_port());
    let out = r.run_watched(
        &["audit", "--registry", &down, "--image", "ledger", "--public-key", key_copy.to_str().unwrap()],
        &with_db(&high_db),
    );
    assert!(!out.status.success() && stderr(&out).contains(&down[..down.find('/').unwrap()]), "{}", stderr(&out));

    // A tampered attestation (signed with another key, in place of the release's): the audit
    // fails naming the tag; with no attestation left, it scans by digest and says so.
    let digest = r.tags()["1.0.1"].clone();
    let other = f.dir.join("target/other-key");
    std::fs::create_dir_all(&other).unwrap();
    let cosign_env = r.registry.env();
    let cosign = |args: &[&str]| {
        let out = Command::new("cosign")
            .args(args)
            .current_dir(&other)
            .env("COSIGN_PASSWORD", "other")
            .env("DOCKER_CONFIG", r.registry.docker_config())
            .envs(cosign_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "cosign {args:?}: {}", stderr(&out));
        out
    };
    cosign(&["generate-key-pair"]);
    std::fs::write(other.join("fake.json"), r#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}"#)
        .unwrap();
    let image = format!("{namespace}/ledger@{digest}");
    // cosign 2 keeps an image's attestations under its `.att` tag, which `--replace` rewrites;
    // cosign 3 adds them as OCI referrers, listed (on a registry without the referrers API) by the
    // fallback tag `sha256-<hex>`: that index goes first, so the forged attestation is the only one.
    // Debian's cosign says `GitVersion: devel`: its flags tell (as the xtask's probe reads them).
    let cosign3 = String::from_utf8(cosign(&["sign", "--help"]).stdout).unwrap().contains("--use-signing-config=true");
    let referrers = format!("{namespace}/ledger:{}", digest.replace(':', "-"));
    let delete = |reference: &str| {
        let out = Command::new("skopeo")
            .args(["delete", "--authfile"])
            .arg(r.registry.docker_config().join("config.json"))
            .arg(format!("docker://{reference}"))
            .envs(cosign_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo delete {reference}: {}", stderr(&out));
    };
    // cosign 3 keeps the image's signature among those referrers too: the image is signed again
    // with the release's key, so that only the attestation is forged.
    let release_key: Vec<(String, String)> = r.env.iter().filter(|(k, _)| k.starts_with("COSIGN_")).cloned().collect();
    let resign = || {
        let mut sign = Command::new("cosign");
        sign.args(["sign", "--yes", "--signing-config", "offline.json", "--key", "env://COSIGN_PRIVATE_KEY", &image])
            .current_dir(&other)
            .env("DOCKER_CONFIG", r.registry.docker_config())
            .envs(cosign_env.iter().chain(&release_key).map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null());
        let out = sign.output().unwrap();
        assert!(out.status.success(), "cosign sign with the release key: {}", stderr(&out));
    };
    let forge: Vec<&str> = if cosign3 {
        delete(&referrers);
        cosign(&["signing-config", "create", "--out", "offline.json"]);
        resign();
        vec!["attest", "--yes", "--signing-config", "offline.json"]
    } else {
        vec!["attest", "--yes", "--tlog-upload=false", "--replace"]
    };
    let forged = ["--key", "cosign.key", "--type", "cyclonedx", "--predicate", "fake.json", image.as_str()];
    cosign(&[forge, forged.to_vec()].concat());
    let out = audit(&high_db, &[]);
    assert!(!out.status.success(), "a tampered attestation fails the audit");
    assert!(stderr(&out).contains(&format!("{namespace}/ledger:1.0.1: the cyclonedx attestation")), "{}", stderr(&out));
    assert!(stderr(&out).contains("partial result: 1 of the live digests could not be audited"), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("the same digest is live as {namespace}/ledger:1.0")), "{}", stderr(&out));
    if cosign3 {
        delete(&referrers);
        resign();
    } else {
        let stored = String::from_utf8(cosign(&["triangulate", "--type", "attestation", &image]).stdout).unwrap();
        delete(stored.trim());
    }
    let out = audit(&high_db, &[]);
    succeeded(&out, "the audit of a tag without attestation, scanned by digest");
    assert!(String::from_utf8_lossy(&out.stdout).contains("no SBOM attestation on linux/amd64: scanned by digest"));
    eprintln!("audit story: {:.0}s", started.elapsed().as_secs_f64());
}

const LIBC: &str = "XTASK-2099-0103";

/// cosign as a person with push access runs it against the test registry, in `dir`, with `env`
/// (a key's password, or the release key itself).
fn cosign_in(r: &Releaser, dir: &std::path::Path, env: &[(String, String)], args: &[&str]) -> Output {
    let out = Command::new("cosign")
        .args(args)
        .current_dir(dir)
        .env("DOCKER_CONFIG", r.registry.docker_config())
        .envs(r.registry.env().iter().chain(env).map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "cosign {args:?}: {}", stderr(&out));
    out
}

/// The components of the last CycloneDX attestation on `image` that verifies with `key`, in the
/// order cosign verifies them (the one the audit used to take).
fn last_verified_components(r: &Releaser, key: &std::path::Path, image: &str) -> usize {
    let args = ["verify-attestation", "--key", key.to_str().unwrap(), "--insecure-ignore-tlog=true"];
    let out = cosign_in(r, &r.fixture.dir, &[], &[&args[..], &["--type", "cyclonedx", image]].concat());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let envelope: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let mut decode = Command::new("base64")
        .arg("--decode")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    decode.stdin.take().unwrap().write_all(envelope["payload"].as_str().unwrap().as_bytes()).unwrap();
    let statement: serde_json::Value = serde_json::from_slice(&decode.wait_with_output().unwrap().stdout).unwrap();
    statement["predicate"]["components"].as_array().map_or(0, Vec::len)
}

#[test]
fn the_audit_trusts_only_the_releases_own_evidence() {
    let _engine = engine_lock();
    let r = Releaser::new("audit-evidence");
    let f = &r.fixture;
    let mirror = DbMirror::start();
    let clean_db =
        mirror.push("clean", &advisory(ABSENT, "no-such-crate-here", ">=0.1.0", Some("9.9.9"), "CRITICAL"), "0");
    let libc_db = mirror.push("libc", &advisory(LIBC, "libc", ">=0.2.0", Some("0.2.999"), "HIGH"), "0");
    let with_db = |db: &str| [r.env.clone(), vec![("XTASK_TRIVY_DB_REPOSITORY".into(), db.to_owned())]].concat();
    r.set_version("1.0.0");
    succeeded(&r.release_with(&with_db(&clean_db)), "release 1.0.0");
    let namespace = r.registry.namespace();
    let key = f.dir.join("target/release-key.pub");
    std::fs::copy(f.dir.join("target/xtask/image-ledger/cosign.pub"), &key).unwrap();
    let audit = |extra: &[&str]| {
        let args = ["audit", "--registry", &namespace, "--image", "ledger", "--public-key", key.to_str().unwrap()];
        r.run_watched(&[&args[..], extra].concat(), &with_db(&libc_db))
    };
    let affected = |out: &Output, what: &str| {
        assert!(!out.status.success(), "{what}: the libc advisory must fail the audit");
        let table = String::from_utf8_lossy(&out.stdout);
        assert!(table.contains(&format!("{LIBC} (HIGH) in libc")), "{what}: the finding is reported:\n{table}");
    };
    affected(&audit(&[]), "the release's own SBOM");

    // Extra clean SBOMs signed with the release's key, until one is the last cosign verifies: the
    // union of every verified SBOM still has libc.
    let digest = r.tags()["1.0.0"].clone();
    let image = format!("{namespace}/ledger@{digest}");
    let work = f.dir.join("target/evidence");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("clean.json"), r#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}"#)
        .unwrap();
    let cosign3 = String::from_utf8(cosign_in(&r, &work, &[], &["sign", "--help"]).stdout)
        .unwrap()
        .contains("--use-signing-config=true");
    let offline: Vec<&str> = if cosign3 {
        cosign_in(&r, &work, &[], &["signing-config", "create", "--out", "offline.json"]);
        vec!["--signing-config", "offline.json"]
    } else {
        vec!["--tlog-upload=false"]
    };
    let attest = |env: &[(String, String)], key_ref: &str| {
        let args = ["attest", "--yes", "--key", key_ref, "--type", "cyclonedx", "--predicate", "clean.json"];
        cosign_in(&r, &work, env, &[&args[..], &offline, &[image.as_str()]].concat());
    };
    let release_key: Vec<(String, String)> = r.env.iter().filter(|(k, _)| k.starts_with("COSIGN_")).cloned().collect();
    // cosign 3 lists attestations from the subject's referrers index (this registry has no
    // referrers API: the fallback tag `sha256-<hex>`), which it keeps sorted by digest, so where a
    // new one lands is chance. Whoever can push can reorder that index: the clean one goes last.
    // cosign 2 appends to the `.att` tag's layers: the new one is last already.
    let fallback = digest.replace(':', "-");
    let referrers = || r.registry.manifest("ledger", &fallback);
    let released = if cosign3 { referrers()["manifests"].as_array().unwrap().clone() } else { Vec::new() };
    attest(&release_key, "env://COSIGN_PRIVATE_KEY");
    if cosign3 {
        let mut index = referrers();
        let listed = index["manifests"].as_array().unwrap().clone();
        let (mut ordered, added): (Vec<_>, Vec<_>) = listed.into_iter().partition(|d| released.contains(d));
        assert_eq!(added.len(), 1, "cosign added one referrer: {index}");
        ordered.extend(added);
        index["manifests"] = serde_json::Value::Array(ordered);
        r.registry.put_manifest("ledger", &fallback, "application/vnd.oci.image.index.v1+json", &index);
    }
    assert_eq!(last_verified_components(&r, &key, &image), 0, "cosign verifies the clean SBOM last");
    affected(&audit(&[]), "an extra clean SBOM signed with the release's key, verified last");

    // A clean SBOM signed with another key: not trusted, named, and the release's own still read.
    let other = [("COSIGN_PASSWORD".to_owned(), "other".to_owned())];
    cosign_in(&r, &work, &other, &["generate-key-pair"]);
    attest(&other, "cosign.key");
    let out = audit(&["--json"]);
    assert!(!out.status.success(), "{}", stderr(&out));
    let report = json_of(&out);
    let tag = &report["tags"][0];
    assert_eq!(tag["findings"][0]["id"], LIBC, "{tag}");
    let ignored = tag["ignored"].as_array().expect("the ignored attestation is reported");
    assert_eq!(ignored.len(), 1, "{tag}");
    let named = ignored[0].as_str().unwrap();
    let expected = format!("a cyclonedx attestation on {image} does not verify with the release's key or identity");
    assert!(named.starts_with(&expected) && named.contains("its envelope sha256:"), "{named}");
    let table = String::from_utf8_lossy(&audit(&[]).stdout).into_owned();
    assert!(table.contains(&format!("note: ignored: {expected}")), "the table says so:\n{table}");

    // A floating tag moved to an image nobody released (the testbed's debian): it fails the audit, named.
    let archive = work.join("debian.tar");
    let saved = Command::new("docker").args(["save", "--output"]).arg(&archive).arg("debian:trixie-slim").output();
    assert!(saved.as_ref().unwrap().status.success(), "docker save: {}", stderr(&saved.unwrap()));
    let copy = |tag: &str| {
        let out = Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-authfile"])
            .arg(r.registry.docker_config().join("config.json"))
            .arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("docker://{namespace}/ledger:{tag}"))
            .envs(r.registry.env())
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo copy: {}", stderr(&out));
    };
    copy("latest");
    let unsigned = r.tags()["latest"].clone();
    let out = audit(&[]);
    let err = stderr(&out);
    assert!(!out.status.success(), "a floating tag on an unknown digest must fail the audit");
    assert!(err.contains(&format!("{namespace}/ledger:latest is on {unsigned}, which no live release has")), "{err}");
    assert!(err.contains("partial result"), "{err}");

    // The version's own tag on it too: its digest is not signed with the release's key.
    copy("1.0.0");
    let out = audit(&[]);
    let err = stderr(&out);
    assert!(!out.status.success(), "a live tag on an unsigned digest must fail the audit");
    let refusal =
        format!("{namespace}/ledger:1.0.0: {namespace}/ledger@{unsigned} is not signed with the release's key");
    assert!(err.contains(&refusal), "{err}");
    assert!(err.contains(&format!("the same digest is live as {namespace}/ledger:latest")), "{err}");
}
