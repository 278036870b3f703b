//! One platform per runner, on real engines and a real registry: ledgerctl's linux/amd64 variant
//! built on the local engine and its linux/arm64 variant on a second, empty dockerd (from the
//! registry build cache, as a fresh runner would), each smoke-tested, scanned and pushed by digest
//! only; `release merge` refusing a missing variant, then publishing the very index a one-engine
//! two-platform build of the commit has (with the planned annotations), under its versioned and
//! floating tags, signed; and
//! refusing variants of another commit and a variant whose scan failed, tagging nothing.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use xtask_testbed::engine::SecondEngine;
use xtask_testbed::releaser::{signing_env, succeeded};
use xtask_testbed::*;

const STATE: &str = "target/xtask/image-ledgerctl";

fn variant_dir(platform: &str) -> String {
    format!("{STATE}/variant-ledgerctl-{}/variant", platform.replace('/', "-"))
}

/// The tags of the registry's ledgerctl without cosign's (`sha256-….sig`/`.att`).
fn image_tags(registry: &Registry) -> Vec<String> {
    registry.tags("acme/ledgerctl").into_iter().filter(|t| !t.starts_with("sha256-")).collect()
}

/// The digest the registry serves `tag` of ledgerctl as.
fn digest_of(registry: &Registry, tag: &str) -> String {
    let accept = [("Accept", INDEX_MEDIA_TYPES)];
    let response = http_get(registry.port, &format!("/v2/acme/ledgerctl/manifests/{tag}"), &accept).unwrap();
    assert_eq!(response.status, 200, "{tag}: {}", response.body);
    response.header("Docker-Content-Digest").unwrap().to_owned()
}

fn cosign_verify(dir: &Path, image: &str) -> std::process::Output {
    Command::new("cosign")
        .args(["verify", "--key", &format!("{STATE}/merge/cosign.pub"), "--insecure-ignore-tlog=true"])
        .args(["--allow-http-registry=true", "--allow-insecure-registry=true", image])
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn variants_from_two_engines_merge_into_the_one_engine_index_and_nothing_is_tagged_unless_all_pass() {
    let _engine = engine_lock();
    let started = Instant::now();
    let registry = Registry::start();
    let namespace = format!("{}/acme", registry.host());
    let fixture = Fixture::ledger("fanout");
    let table = "[workspace.metadata.xtask.images.ledgerctl]";
    let text = std::fs::read_to_string(fixture.dir.join("Cargo.toml")).unwrap();
    let start = text.find(table).unwrap();
    let line = start + text[start..].find("\nplatforms = ").unwrap() + 1;
    let end = line + text[line..].find('\n').unwrap();
    fixture.edit("Cargo.toml", &text[line..end], "platforms = [\"linux/amd64\", \"linux/arm64\"]");
    let cache = format!("[workspace.metadata.xtask.cache]\nregistry = \"{}/cache\"\n\n", registry.host());
    fixture.edit("Cargo.toml", "[workspace.metadata.xtask.scan]", &format!("{cache}[workspace.metadata.xtask.scan]"));
    fixture.commit("ledgerctl for two platforms, a registry build cache");
    let env = signing_env(&fixture.dir);
    let run = |args: &[&str], env: &[(String, String)]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--registry", namespace.as_str(), "--image", "ledgerctl"]);
        fixture.xtask_env(&all, env)
    };
    let merge = |dirs: &[String]| {
        let mut args = vec!["release", "merge"];
        args.extend(dirs.iter().map(String::as_str));
        run(&args, &env)
    };

    // The reference: one engine building both platforms (it also fills the registry cache).
    succeeded(&run(&["build"], &[]), "the one-engine build");
    let one_engine = read_json(&fixture.dir.join(format!("{STATE}/build-record.json")))["images"][0]["index_digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let reference_took = started.elapsed();

    // linux/amd64 on the local engine; linux/arm64 on a second, empty engine, as a fresh runner.
    let amd64 = run(&["release", "--execute", "--platform", "linux/amd64"], &env);
    succeeded(&amd64, "the linux/amd64 variant");
    let second = SecondEngine::start();
    second.copy_image("debian:trixie-slim");
    let mut second_env = env.clone();
    second_env.push(("DOCKER_HOST".into(), second.host.clone()));
    let arm64 = run(&["release", "--execute", "--platform", "linux/arm64"], &second_env);
    succeeded(&arm64, "the linux/arm64 variant on the second engine");
    let (amd64_dir, arm64_dir) = (variant_dir("linux/amd64"), variant_dir("linux/arm64"));
    let record = |dir: &str| read_json(&fixture.dir.join(dir).join("variant-record.json"));
    let (amd64_record, arm64_record) = (record(&amd64_dir), record(&arm64_dir));
    assert_ne!(amd64_record["engine"]["id"], arm64_record["engine"]["id"], "two engines built them");
    for (record, platform) in [(&amd64_record, "linux/amd64"), (&arm64_record, "linux/arm64")] {
        assert_eq!(record["platform"], platform);
        assert_eq!(record["scan"]["passed"], true, "{record}");
        let pushed = format!("{namespace}/ledgerctl@{}", record["digest"].as_str().unwrap());
        assert_eq!(record["pushed"], serde_json::json!([pushed]), "pushed by digest");
        for file in ["image.oci.tar", "provenance.json"] {
            assert!(fixture.dir.join(variant_dir(platform)).join(file).is_file(), "{platform}: {file}");
        }
    }
    assert_eq!(image_tags(&registry), Vec::<String>::new(), "variants are pushed by digest only: no tag");
    let variants_took = started.elapsed() - reference_took;

    // One variant missing: refused, naming it; nothing tagged.
    let out = merge(std::slice::from_ref(&amd64_dir));
    assert!(!out.status.success(), "a merge without linux/arm64 must fail");
    let err = stderr(&out);
    assert!(err.contains("ledgerctl linux/arm64: no variant record") && err.contains("nothing was tagged"), "{err}");
    assert_eq!(image_tags(&registry), Vec::<String>::new(), "a refused merge tags nothing");

    // Both: the one-engine index, under every planned tag, signed.
    succeeded(&merge(&[amd64_dir.clone(), arm64_dir.clone()]), "the merge");
    let released = read_json(&fixture.dir.join(format!("{STATE}/merge/release-record.json")));
    assert_eq!(
        released["images"][0]["index_digest"],
        one_engine.as_str(),
        "the merged index is the one-engine build's"
    );
    let plan = fixture.xtask(&["plan", "--json", "--registry", &namespace, "--image", "ledgerctl"]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let tags: Vec<String> =
        plan["images"][0]["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
    assert!(!plan["images"][0]["floating_tags"].as_array().unwrap().is_empty(), "floating tags are planned: {plan}");
    for reference in &tags {
        let tag = reference.rsplit_once(':').unwrap().1;
        assert_eq!(digest_of(&registry, tag), one_engine, "{reference}");
    }
    let accept = [("Accept", INDEX_MEDIA_TYPES)];
    let index = http_get(registry.port, &format!("/v2/acme/ledgerctl/manifests/{one_engine}"), &accept).unwrap();
    let index: serde_json::Value = serde_json::from_str(&index.body).unwrap();
    let annotations = &plan["images"][0]["annotations"];
    assert_eq!(index["annotations"], *annotations, "the merged index carries the planned annotations");
    assert_eq!(annotations["org.opencontainers.image.vendor"], "Acme platform team", "{annotations}");
    let verify = cosign_verify(&fixture.dir, &format!("{namespace}/ledgerctl@{one_engine}"));
    assert!(verify.status.success(), "the merged index is signed: {}", stderr(&verify));
    let published = image_tags(&registry);
    let variants = read_json(&fixture.dir.join(format!("{STATE}/merge/variants.json")));
    let engines: Vec<&serde_json::Value> = variants.as_array().unwrap().iter().map(|v| &v["engine"]["id"]).collect();
    assert_eq!(engines, [&amd64_record["engine"]["id"], &arm64_record["engine"]["id"]], "{variants}");

    // Variants of another commit: refused, naming each.
    fixture.git(&["commit", "--quiet", "--allow-empty", "--message", "a later commit"]);
    let out = merge(&[amd64_dir.clone(), arm64_dir.clone()]);
    assert!(!out.status.success(), "variants of another commit must be refused");
    let err = stderr(&out);
    let built_from = format!("built from commit {}", amd64_record["git_sha"].as_str().unwrap());
    assert!(err.contains(&format!("ledgerctl linux/amd64: {built_from}")), "{err}");
    assert!(err.contains(&format!("ledgerctl linux/arm64: {built_from}")), "{err}");

    // A variant whose scan failed: a token planted in its image. Its record keeps the verdict, and
    // the merge names it; the tags stay as they were.
    let token = format!("ghp_{}", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5");
    fixture.write("leak.env", &format!("GITHUB_TOKEN={token}\n"));
    fixture.eject_dockerfile();
    let dockerfile = std::fs::read_to_string(fixture.dir.join("docker/Dockerfile")).unwrap();
    fixture.write("docker/Dockerfile", &(dockerfile + "\nFROM runtime AS leaky\nCOPY leak.env /etc/leak.env\n"));
    fixture.edit("Cargo.toml", "target = \"runtime\"", "target = \"leaky\"");
    fixture.commit("plant a token");
    let leaky = run(&["release", "--execute", "--platform", "linux/arm64"], &env);
    assert!(!leaky.status.success(), "the planted token fails the variant's scan");
    assert_eq!(record(&arm64_dir)["scan"]["passed"], false, "the failed verdict is recorded");
    assert_eq!(record(&arm64_dir)["pushed"], serde_json::json!([]), "a failed variant is not pushed");
    let out = merge(&[amd64_dir, arm64_dir]);
    assert!(!out.status.success(), "a failed variant must be refused");
    let err = stderr(&out);
    assert!(err.contains("ledgerctl linux/arm64: its scan failed"), "{err}");
    assert_eq!(image_tags(&registry), published, "a refused merge moves no tag");
    eprintln!(
        "fanout: one-engine build {:.0}s, two variants {:.0}s, whole test {:.0}s",
        reference_took.as_secs_f64(),
        variants_took.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
