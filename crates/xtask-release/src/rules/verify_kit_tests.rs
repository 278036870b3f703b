use xtask_testbed::shell::words;
use yaml_rust2::{Yaml, YamlLoader};

use super::*;

const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n";

fn image(repository: &str, plain_http: bool) -> KitImage {
    KitImage {
        name: "ledger".into(),
        repository: repository.into(),
        plain_http,
        index_digest: "sha256:ii".into(),
        manifests: vec![("linux/amd64".into(), "sha256:aa".into()), ("linux/arm64".into(), "sha256:bb".into())],
        attestation_types: vec!["cyclonedx".into(), "slsaprovenance".into(), "openvex".into()],
    }
}

fn yaml(text: &str) -> Yaml {
    YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("not YAML ({e}):\n{text}")).remove(0)
}

#[test]
fn key_signed_offline_commands_are_the_engines_verifications() {
    let mode = Mode::Key;
    let kit = Kit {
        mode: &mode,
        public_key: PEM,
        tlog_upload: false,
        bundles: false,
        images: vec![image("127.0.0.1:5000/acme/ledger", true), image("ghcr.io/acme/ledger", false)],
    };
    let commands = kit.commands();
    assert_eq!(commands.len(), 2 * (1 + 2 * 3));
    assert_eq!(
        commands[0].1,
        [
            "cosign",
            "verify",
            "--insecure-ignore-tlog=true",
            "--key",
            "cosign.pub",
            "--allow-http-registry=true",
            "--allow-insecure-registry=true",
            "127.0.0.1:5000/acme/ledger@sha256:ii"
        ]
    );
    assert_eq!(
        commands[1].1,
        [
            "cosign",
            "verify-attestation",
            "--insecure-ignore-tlog=true",
            "--key",
            "cosign.pub",
            "--allow-http-registry=true",
            "--type",
            "cyclonedx",
            "127.0.0.1:5000/acme/ledger@sha256:aa"
        ]
    );
    assert_eq!(
        commands[7].1,
        ["cosign", "verify", "--insecure-ignore-tlog=true", "--key", "cosign.pub", "ghcr.io/acme/ledger@sha256:ii"]
    );
    // The file holds exactly those commands, each on one line, read back as a shell would.
    let file = kit.commands_file();
    let lines: Vec<Vec<String>> =
        file.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(words).collect();
    assert_eq!(lines, commands.iter().map(|(_, argv)| argv.clone()).collect::<Vec<_>>());
    assert!(file.contains("tlog-upload = false"), "the file says why the tlog is ignored:\n{file}");

    let kyverno = yaml(&kit.kyverno());
    assert_eq!(kyverno["kind"].as_str(), Some("ClusterPolicy"));
    let verify = &kyverno["spec"]["rules"][0]["verifyImages"][0];
    let references: Vec<&str> = verify["imageReferences"].as_vec().unwrap().iter().filter_map(Yaml::as_str).collect();
    assert_eq!(
        references,
        [
            "127.0.0.1:5000/acme/ledger:*",
            "127.0.0.1:5000/acme/ledger@*",
            "ghcr.io/acme/ledger:*",
            "ghcr.io/acme/ledger@*"
        ]
    );
    let key = &verify["attestors"][0]["entries"][0]["keys"];
    assert_eq!(key["publicKeys"].as_str(), Some(PEM.trim()));
    assert_eq!(key["rekor"]["ignoreTlog"].as_bool(), Some(true));
    let types: Vec<&str> = verify["attestations"].as_vec().unwrap().iter().filter_map(|a| a["type"].as_str()).collect();
    assert_eq!(types, ["https://cyclonedx.org/bom", "https://slsa.dev/provenance/v0.2", "https://openvex.dev/ns"]);
    let attestor = &verify["attestations"][2]["attestors"][0]["entries"][0]["keys"]["publicKeys"];
    assert_eq!(attestor.as_str(), Some(PEM.trim()), "each attestation by the same key");

    let cip = yaml(&kit.policy_controller());
    assert_eq!(cip["kind"].as_str(), Some("ClusterImagePolicy"));
    let globs: Vec<&str> = cip["spec"]["images"].as_vec().unwrap().iter().filter_map(|i| i["glob"].as_str()).collect();
    assert_eq!(globs, ["127.0.0.1:5000/acme/ledger**", "ghcr.io/acme/ledger**"]);
    let authority = &cip["spec"]["authorities"][0];
    assert_eq!(authority["key"]["data"].as_str(), Some(PEM.trim()));
    assert!(authority["ctlog"].is_badvalue(), "no transparency log to check");
    let types: Vec<&str> =
        authority["attestations"].as_vec().unwrap().iter().filter_map(|a| a["predicateType"].as_str()).collect();
    assert_eq!(types, ["https://cyclonedx.org/bom", "https://slsa.dev/provenance/v0.2", "https://openvex.dev/ns"]);

    let markdown = kit.markdown("target/xtask/image-ledger/verify");
    assert!(markdown.contains("cosign verify --insecure-ignore-tlog=true --key cosign.pub --allow-http-registry=true"));
    assert!(!markdown.contains("verify-attestation"), "the summary shows the index commands");
}

#[test]
fn keyless_commands_pin_the_run_and_the_policies_its_workflow_at_any_tag() {
    let workflow_ref = "acme/beacon/.github/workflows/release.yml@refs/tags/v1.2.3";
    let mode = Mode::Keyless(Identity::Run { repository: "acme/beacon".into(), workflow_ref: workflow_ref.into() });
    let kit = Kit {
        mode: &mode,
        public_key: "",
        tlog_upload: true,
        bundles: true,
        images: vec![image("ghcr.io/acme/ledger", false)],
    };
    let (_, verify) = &kit.commands()[0];
    assert_eq!(
        verify[2..],
        [
            "--certificate-identity",
            "https://github.com/acme/beacon/.github/workflows/release.yml@refs/tags/v1.2.3",
            "--certificate-oidc-issuer",
            GITHUB_OIDC_ISSUER,
            "ghcr.io/acme/ledger@sha256:ii"
        ]
    );
    assert!(!verify.iter().any(|a| a.contains("ignore-tlog")));
    let cip = yaml(&kit.policy_controller());
    let authority = &cip["spec"]["authorities"][0];
    assert_eq!(authority["signatureFormat"].as_str(), Some("bundle"));
    assert_eq!(authority["ctlog"]["url"].as_str(), Some("https://rekor.sigstore.dev"));
    let identity = &authority["keyless"]["identities"][0];
    assert_eq!(identity["issuer"].as_str(), Some(GITHUB_OIDC_ISSUER));
    let pattern = regex::Regex::new(identity["subjectRegExp"].as_str().unwrap()).unwrap();
    assert!(pattern.is_match("https://github.com/acme/beacon/.github/workflows/release.yml@refs/tags/v1.3.0"));
    assert!(!pattern.is_match("https://github.com/acme/beacon/.github/workflows/other.yml@refs/tags/v1.3.0"));
    assert!(!pattern.is_match("https://github.com/evil/beacon/.github/workflows/release.yml@refs/tags/v1.3.0"));
    let kyverno = yaml(&kit.kyverno());
    let keyless = &kyverno["spec"]["rules"][0]["verifyImages"][0]["attestors"][0]["entries"][0]["keyless"];
    assert_eq!(keyless["subjectRegExp"].as_str(), identity["subjectRegExp"].as_str());
    assert_eq!(shell_word("^a|b$"), "'^a|b$'");
    assert_eq!(shell_word("it's"), r"'it'\''s'");
    assert_eq!(words(&shell_word("it's")), ["it's"]);
}
