//! For the images' consumers, against a real registry: the `ledger` service on two platforms with a
//! size budget too small, which stops its release after the build and before anything is pushed
//! (the error naming each platform, its size and the budget); then, the budget raised, its release
//! read back from the registry: the index and each platform manifest carry the planned annotations
//! (computed from Cargo metadata and the commit, one replaced, one removed, one of the team's own),
//! the image configs the same labels, and each platform weighs what the build recorded.

use std::collections::BTreeMap;

use xtask_testbed::releaser::*;
use xtask_testbed::*;

const OCI: &str = "org.opencontainers.image.";

fn annotations(json: &serde_json::Value) -> BTreeMap<String, String> {
    serde_json::from_value(json["annotations"].clone()).unwrap_or_default()
}

#[test]
fn a_size_budget_stops_the_release_before_push_and_released_images_carry_their_annotations() {
    let _engine = engine_lock();
    let r = Releaser::new("consumers");
    let table = "[workspace.metadata.xtask.images.ledger]\n";
    let own = concat!(
        "annotations = { \"org.opencontainers.image.title\" = \"Ledger service\", ",
        "\"org.opencontainers.image.url\" = \"\", \"com.acme.team\" = \"platform\" }\n",
        "max-size = \"64KiB\"\n",
    );
    r.fixture.edit("Cargo.toml", table, &format!("{table}{own}"));
    let ledger = r.fixture.dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&ledger).unwrap();
    let start = text.find(table).unwrap();
    let line = start + text[start..].find("\nplatforms = ").unwrap() + 1;
    let end = line + text[line..].find('\n').unwrap();
    r.fixture.edit("Cargo.toml", &text[line..end], "platforms = [\"linux/amd64\", \"linux/arm64\"]");
    r.fixture.commit("ledger on two platforms, annotations of its own, a 64 KiB budget");

    let plan = r.fixture.xtask(&["plan", "--image", "ledger"]);
    succeeded(&plan, "plan");
    let shown = String::from_utf8_lossy(&plan.stdout);
    assert!(shown.contains("max-size   64.0 KiB on each platform, as pushed (65536 bytes)"), "{shown}");

    // Too small: the build step fails, naming each platform, its size and the budget; nothing pushed.
    r.set_version("1.0.0");
    let out = r.release();
    let err = stderr(&out);
    assert!(!out.status.success(), "a release over its budget must fail:\n{err}");
    for platform in ["linux/amd64", "linux/arm64"] {
        let named = format!("image ledger on {platform} weighs ");
        let at = err.find(&named).unwrap_or_else(|| panic!("{named:?} in:\n{err}"));
        assert!(err[at..].contains("bytes), over its max-size of 64.0 KiB"), "{err}");
    }
    assert!(err.contains("nothing was pushed") && err.contains("images.ledger.max-size"), "{err}");
    assert!(!err.contains("==> push-versioned"), "the release stops before the push:\n{err}");
    assert!(r.registry.catalog().is_empty(), "nothing may be pushed: {:?}", r.registry.catalog());

    // A budget it fits: released, and read back from the registry.
    r.fixture.edit("Cargo.toml", "max-size = \"64KiB\"", "max-size = \"64MiB\"");
    r.fixture.commit("a 64 MiB budget");
    r.set_version("1.0.1");
    succeeded(&r.release(), "release 1.0.1");
    let plan = r.fixture.xtask(&["plan", "--json", "--image", "ledger"]);
    succeeded(&plan, "plan --json");
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let planned = annotations(&plan["images"][0]);
    assert_eq!(plan["images"][0]["max_size"], 64 << 20);
    let expected = [
        ("title", "Ledger service"),
        ("version", "1.0.1"),
        ("vendor", "Acme platform team"),
        ("licenses", "Apache-2.0"),
        ("source", "https://example.com/acme/ledger"),
        ("description", "Counts the requests it serves: a small HTTP service with a healthcheck"),
    ];
    for (key, value) in expected {
        assert_eq!(planned.get(&format!("{OCI}{key}")).map(String::as_str), Some(value), "{key}: {planned:?}");
    }
    assert_eq!(planned[&format!("{OCI}revision")], r.fixture.git(&["rev-parse", "HEAD"]));
    assert_eq!(planned[&format!("{OCI}created")], plan["created"].as_str().unwrap(), "SOURCE_DATE_EPOCH's instant");
    assert_eq!(planned["com.acme.team"], "platform");
    assert!(!planned.contains_key(&format!("{OCI}url")), "\"\" removes a computed key: {planned:?}");

    let index = r.registry.manifest("ledger", "1.0.1");
    assert_eq!(annotations(&index), planned, "the index carries the planned annotations");
    let record = r.record();
    let built = read_json(&r.fixture.dir.join("target/xtask/image-ledger/build-record.json"));
    let mut platforms = 0;
    for entry in index["manifests"].as_array().unwrap() {
        let Some(platform) = entry["platform"]["architecture"].as_str().filter(|a| *a != "unknown") else { continue };
        let platform = format!("linux/{platform}");
        let digest = entry["digest"].as_str().unwrap();
        let manifest = r.registry.manifest("ledger", digest);
        assert_eq!(annotations(&manifest), planned, "{platform}'s manifest carries the planned annotations");
        let config = r.registry.json_blob("ledger", manifest["config"]["digest"].as_str().unwrap());
        let labels: BTreeMap<String, String> = serde_json::from_value(config["config"]["Labels"].clone()).unwrap();
        assert_eq!(labels, planned, "{platform}'s labels are the same map");
        let size = manifest["layers"].as_array().unwrap().iter().map(|l| l["size"].as_u64().unwrap()).sum::<u64>()
            + manifest["config"]["size"].as_u64().unwrap();
        let recorded = built["images"][0]["platforms"].as_array().unwrap().iter().find(|p| p["platform"] == platform);
        assert_eq!(recorded.unwrap()["size"].as_u64(), Some(size), "{platform}: the build measured what was pushed");
        assert!(size > 64 << 10 && size < 64 << 20, "{platform}: {size} bytes");
        platforms += 1;
    }
    assert_eq!(platforms, 2, "{index}");
    assert_eq!(record["images"][0]["index_digest"], built["images"][0]["index_digest"]);
}
