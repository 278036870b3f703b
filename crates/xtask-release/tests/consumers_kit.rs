//! What an image's consumer gets, end to end, on the real engine, registry, cosign and trivy, with a
//! DB built from advisories this test writes for the locked `libc`: one HIGH advisory accepted in
//! `.trivyignore` as `vex:not_affected` with a justification, one accepted as `vex:affected` with an
//! action, one MEDIUM not accepted. The release attests an OpenVEX document on its platform manifest
//! beside the SBOM and provenance, and writes the verification kit: every cosign command of
//! `verify/commands.sh`, run as written (no shell), passes on the release and fails on a copy of
//! the image signed and attested with another key; the Kyverno and policy-controller policies name
//! the release's key, repository and the attestation types the registry holds. A consumer's
//! `trivy image --vex FILE`, with the verified VEX predicate, suppresses exactly the `not_affected`
//! finding; the `affected` one and the unaccepted one are still reported. The audit honours the
//! release's VEX with nothing in the ignore file. (`trivy --vex oci` is not used: trivy 0.76 finds no
//! cosign 3 attestation on this registry, which has no referrers API, so the consumer passes the
//! verified document as a file.)

use std::path::Path;
use std::process::{Command, Output};

use xtask_testbed::*;

const NOT_AFFECTED: &str = "XTASK-2099-0201";
const AFFECTED: &str = "XTASK-2099-0202";
const OPEN: &str = "XTASK-2099-0203";

/// Each command of a kit's `commands.sh`, as its argument list.
fn kit_commands(kit: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(kit.join("commands.sh")).unwrap();
    text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(shell::words).collect()
}

/// Runs `argv` (cosign's) in `dir`, with `env`.
fn run(argv: &[String], dir: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn ids(report: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = report["Results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["Vulnerabilities"].as_array().into_iter().flatten())
        .map(|v| v["VulnerabilityID"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[test]
fn the_kit_verifies_the_release_only_and_its_vex_suppresses_the_accepted_finding() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("consumers");
    fixture.one_platform_per_image();
    let mirror = DbMirror::start();
    let images = Registry::start();
    let advisories = [
        advisory(NOT_AFFECTED, "libc", ">=0.2.0, <0.2.999", Some("0.2.999"), "HIGH"),
        advisory(AFFECTED, "libc", ">=0.2.0, <0.2.998", Some("0.2.998"), "HIGH"),
        advisory(OPEN, "libc", ">=0.2.0, <0.2.997", Some("0.2.997"), "MEDIUM"),
    ]
    .concat();
    let db = mirror.push("libc", &advisories, "0");
    fixture.write(
        ".trivyignore",
        &format!(
            "# the consumers' test\n{NOT_AFFECTED} exp:2099-12-31 vex:not_affected \
             justification:vulnerable_code_not_in_execute_path impact:\"ledger never calls it\"\n\
             {AFFECTED} exp:2099-12-31 vex:affected action:\"upgrade libc to 0.2.998 when the image is rebuilt\"\n"
        ),
    );
    fixture.commit("one platform, and two accepted advisories");
    let out = fixture.xtask(&["version", "set", "1.0.0", "--commit", "--tag"]);
    assert!(out.status.success(), "version set: {}", stderr(&out));
    let mut env = signing_env(&fixture.dir);
    env.push(("XTASK_TRIVY_DB_REPOSITORY".into(), db.clone()));
    let namespace = format!("{}/acme", images.host());
    let out = xtask_env(&fixture.dir, &["release", "--execute", "--registry", &namespace, "--image", "ledger"], &env);
    assert!(out.status.success(), "the release:\n{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("### Verifying the images") && err.contains("target/xtask/image-ledger/verify"), "{err}");

    let out_dir = fixture.dir.join("target/xtask/image-ledger");
    let record = read_json(&out_dir.join("release-record.json"));
    let image = &record["images"][0];
    let (index, platforms) = (image["index_digest"].as_str().unwrap(), image["platforms"].as_object().unwrap());
    let manifest = platforms["linux/amd64"].as_str().unwrap();
    let repository = format!("{namespace}/ledger");
    let signed = &image["signatures"][0];
    assert_eq!(signed["attestation_types"], serde_json::json!(["cyclonedx", "slsaprovenance", "openvex"]));
    let accepted: Vec<(&str, &str)> = image["scan"]["accepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a["vex"]["status"].as_str().unwrap()))
        .collect();
    assert_eq!(accepted, [(NOT_AFFECTED, "not_affected"), (AFFECTED, "affected")]);

    // Every command of the kit, run as written from the kit's folder: each passes.
    let kit = out_dir.join("verify");
    let commands = kit_commands(&kit);
    let index_ref = format!("{repository}@{index}");
    let manifest_ref = format!("{repository}@{manifest}");
    assert_eq!(commands.len(), 4, "the index, and three attestation types on one platform: {commands:?}");
    assert_eq!(commands[0][..2], ["cosign", "verify"]);
    assert_eq!(commands[0].last(), Some(&index_ref));
    let types: Vec<&str> = commands[1..]
        .iter()
        .map(|c| {
            assert_eq!((c[1].as_str(), c.last()), ("verify-attestation", Some(&manifest_ref)));
            c[c.iter().position(|a| a == "--type").unwrap() + 1].as_str()
        })
        .collect();
    assert_eq!(types, ["cyclonedx", "slsaprovenance", "openvex"]);
    assert!(commands.iter().all(|c| c.contains(&"--insecure-ignore-tlog=true".to_owned())), "offline-signed");
    for command in &commands {
        let out = run(command, &kit, &[]);
        assert!(out.status.success(), "{command:?} on the release:\n{}", stderr(&out));
    }

    // The verified VEX predicate, as a consumer downloads it, and the predicate types the registry holds.
    let verified = run(&commands[3], &kit, &[]);
    let envelope: serde_json::Value =
        serde_json::from_slice(verified.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    let payload = Command::new("base64")
        .arg("--decode")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(envelope["payload"].as_str().unwrap().as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    let statement: serde_json::Value = serde_json::from_slice(&payload.stdout).unwrap();
    let vex_type = statement["predicateType"].as_str().unwrap().to_owned();
    let vex = &statement["predicate"];
    assert_eq!(vex["@context"], "https://openvex.dev/ns/v0.2.0");
    let statements = vex["statements"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "{vex}");
    assert_eq!(statements[0]["justification"], "vulnerable_code_not_in_execute_path");
    assert!(statements[0]["status_notes"].as_str().unwrap().contains("expires 2099-12-31"));
    assert_eq!(statements[1]["action_statement"], "upgrade libc to 0.2.998 when the image is rebuilt");
    let vex_file = fixture.dir.join("target/consumer.openvex.json");
    std::fs::write(&vex_file, vex.to_string()).unwrap();

    // The policies: the release's key, its repository, and the types the attestations carry.
    let key = std::fs::read_to_string(kit.join("cosign.pub")).unwrap();
    assert_eq!(key, std::fs::read_to_string(out_dir.join("cosign.pub")).unwrap());
    let yaml = |name: &str| {
        let text = std::fs::read_to_string(kit.join(name)).unwrap();
        yaml_rust2::YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name} ({e}):\n{text}")).remove(0)
    };
    let expected_types = ["https://cyclonedx.org/bom", "https://slsa.dev/provenance/v0.2", vex_type.as_str()];
    let kyverno = yaml("kyverno-cluster-policy.yaml");
    let rule = &kyverno["spec"]["rules"][0]["verifyImages"][0];
    assert_eq!(rule["imageReferences"][0].as_str(), Some(format!("{repository}:*").as_str()));
    assert_eq!(rule["attestors"][0]["entries"][0]["keys"]["publicKeys"].as_str(), Some(key.trim()));
    let kinds: Vec<&str> = rule["attestations"].as_vec().unwrap().iter().filter_map(|a| a["type"].as_str()).collect();
    assert_eq!(kinds, expected_types);
    let cip = yaml("cluster-image-policy.yaml");
    assert_eq!(cip["spec"]["images"][0]["glob"].as_str(), Some(format!("{repository}**").as_str()));
    let authority = &cip["spec"]["authorities"][0];
    assert_eq!(authority["key"]["data"].as_str(), Some(key.trim()));
    let kinds: Vec<&str> =
        authority["attestations"].as_vec().unwrap().iter().filter_map(|a| a["predicateType"].as_str()).collect();
    assert_eq!(kinds, expected_types);

    // A copy of the image in another repository, signed and attested with another key: the same
    // commands fail on it, while the other key verifies it (it is signed, just not by the release).
    let other = fixture.dir.join("target/other-signer");
    std::fs::create_dir_all(&other).unwrap();
    let password = [("COSIGN_PASSWORD", "other")];
    let cosign = |args: &[&str]| {
        let argv: Vec<String> = std::iter::once("cosign").chain(args.iter().copied()).map(str::to_owned).collect();
        let out = run(&argv, &other, &password);
        assert!(out.status.success(), "cosign {args:?}: {}", stderr(&out));
        out
    };
    cosign(&["generate-key-pair"]);
    std::fs::write(other.join("provenance.json"), "{}").unwrap();
    let copy_repository = format!("{namespace}/ledger-copy");
    let copied = Command::new("skopeo")
        .args(["copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false"])
        .arg(format!("docker://{index_ref}"))
        .arg(format!("docker://{copy_repository}:copy"))
        .output()
        .unwrap();
    assert!(copied.status.success(), "skopeo copy: {}", stderr(&copied));
    let cosign3 = String::from_utf8(cosign(&["sign", "--help"]).stdout).unwrap().contains("--use-signing-config=true");
    let offline: Vec<&str> = if cosign3 {
        cosign(&["signing-config", "create", "--out", "offline.json"]);
        vec!["--signing-config", "offline.json"]
    } else {
        vec!["--tlog-upload=false"]
    };
    let copy_index = format!("{copy_repository}@{index}");
    let copy_manifest = format!("{copy_repository}@{manifest}");
    let http = "--allow-http-registry=true";
    cosign(
        &[&["sign", "--yes", "--recursive", "--key", "cosign.key", http][..], &offline, &[copy_index.as_str()]]
            .concat(),
    );
    let predicates = [
        ("cyclonedx", out_dir.join("scan/ledger/linux-amd64/sbom.cdx.json")),
        ("openvex", out_dir.join("vex/ledger.openvex.json")),
        ("slsaprovenance", other.join("provenance.json")),
    ];
    for (kind, predicate) in &predicates {
        let predicate = predicate.to_str().unwrap();
        let args = ["attest", "--yes", "--key", "cosign.key", http, "--type", kind, "--predicate", predicate];
        cosign(&[&args[..], &offline, &[copy_manifest.as_str()]].concat());
    }
    for command in &commands {
        let on_copy: Vec<String> = command.iter().map(|a| a.replacen(&repository, &copy_repository, 1)).collect();
        assert_ne!(&on_copy, command);
        let out = run(&on_copy, &kit, &[]);
        assert!(!out.status.success(), "{on_copy:?} must fail on an image the release did not sign");
        let with_other: Vec<String> = on_copy
            .iter()
            .map(|a| if a == "cosign.pub" { other.join("cosign.pub").display().to_string() } else { a.clone() })
            .collect();
        let out = run(&with_other, &kit, &[]);
        assert!(out.status.success(), "{with_other:?}: the copy is signed, by the other key:\n{}", stderr(&out));
    }

    // A consumer's trivy with the downloaded VEX: the not_affected finding is suppressed, nothing else.
    let cache = record["scan"]["db"]["cache_dir"].as_str().unwrap().to_owned();
    let trivy = |extra: &[&str]| {
        let report = fixture.dir.join("target/consumer-report.json");
        let mut args = vec!["image", "--quiet", "--skip-db-update", "--cache-dir", &cache, "--scanners", "vuln"];
        args.extend(["--image-src", "remote"]);
        let report_arg = report.display().to_string();
        args.extend(["--format", "json", "--output", &report_arg]);
        args.extend(extra);
        args.push(&index_ref);
        let out = Command::new("trivy").args(&args).output().unwrap();
        assert!(out.status.success(), "trivy {args:?}: {}", stderr(&out));
        read_json(&report)
    };
    assert_eq!(ids(&trivy(&[])), [NOT_AFFECTED, AFFECTED, OPEN], "without VEX, every advisory");
    let vex_arg = vex_file.display().to_string();
    let with_vex = trivy(&["--vex", &vex_arg]);
    assert_eq!(ids(&with_vex), [AFFECTED, OPEN], "with the release's VEX, exactly the not_affected one goes");

    // The audit reads the release's VEX: with an empty ignore file, the not_affected one is not reported.
    fixture.write(".trivyignore", "");
    let key_copy = fixture.dir.join("target/release-key.pub");
    std::fs::copy(out_dir.join("cosign.pub"), &key_copy).unwrap();
    let audit =
        ["audit", "--registry", &namespace, "--image", "ledger", "--public-key", key_copy.to_str().unwrap(), "--json"];
    let db_env = [("XTASK_TRIVY_DB_REPOSITORY".to_owned(), db.clone())];
    let out = xtask_env(&fixture.dir, &audit, &db_env);
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("audit --json ({e}): {}", stderr(&out)));
    let found: Vec<&str> =
        report["tags"][0]["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert!(
        !found.contains(&NOT_AFFECTED) && found.contains(&AFFECTED) && found.contains(&OPEN),
        "{found:?}\n{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(&format!("{NOT_AFFECTED} not affected, says the release's VEX until 2099-12-31")),
        "{}",
        stderr(&out)
    );
}
