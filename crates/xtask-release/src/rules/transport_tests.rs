//! Unit tests of the HTTP/HTTPS decision: docker's rule on names, addresses, ports and the list.

use super::*;

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

fn listed(entries: &[&str]) -> Vec<String> {
    entries.iter().map(|e| e.to_string()).collect()
}

#[test]
fn loopback_by_its_literal_name_or_address_may_speak_plain_http() {
    for registry in ["localhost:5000", "localhost", "127.0.0.1:5000", "127.8.9.10:5000", "[::1]:5000", "[::1]"] {
        assert_eq!(allowance(registry, &[]), Allowance::Loopback, "{registry}");
    }
    assert_eq!(allowance("[::ffff:127.0.0.1]:5000", &[]), Allowance::Loopback, "IPv4-mapped loopback");
}

#[test]
fn everything_else_is_https_only_unless_listed_and_dns_never_decides() {
    // A name is HTTPS only whatever it resolves to: whoever answers DNS cannot turn TLS off.
    for registry in [
        "ghcr.io",
        "registry.lan:5000",
        "10.0.0.5:5000",
        "[fd00::1]:5000",
        "registry.test:5000",
        "localhost.example.com:5000",
    ] {
        assert_eq!(allowance(registry, &[]), Allowance::HttpsOnly, "{registry}");
    }
}

#[test]
fn a_listed_registry_matches_by_exact_name_or_by_the_cidr_of_its_literal_address() {
    let by_name = listed(&["registry.lan:5000", "198.18.0.2:5000"]);
    assert_eq!(allowance("198.18.0.2:5000", &by_name), Allowance::Listed("198.18.0.2:5000".into()));
    assert_eq!(allowance("registry.lan:5000", &by_name), Allowance::Listed("registry.lan:5000".into()));
    // The port is part of the name, as in docker's daemon.json.
    assert_eq!(allowance("198.18.0.2:5001", &by_name), Allowance::HttpsOnly);
    assert_eq!(allowance("198.18.0.2:5000", &listed(&["198.18.0.2"])), Allowance::HttpsOnly);
    let by_cidr = listed(&["198.18.0.0/16", "fd00::/48"]);
    assert_eq!(allowance("198.18.255.254:80", &by_cidr), Allowance::Listed("198.18.0.0/16".into()));
    assert_eq!(allowance("198.19.0.1:80", &by_cidr), Allowance::HttpsOnly);
    assert_eq!(allowance("[fd00::1]:5000", &by_cidr), Allowance::Listed("fd00::/48".into()));
    assert_eq!(allowance("anything.lan:443", &by_cidr), Allowance::HttpsOnly, "a name, whatever it resolves to");
}

#[test]
fn a_listed_range_must_be_private_and_narrow() {
    for ok in
        ["10.1.0.0/16", "192.168.7.0/24", "172.16.0.0/16", "198.18.0.0/16", "100.64.3.0/24", "fd12:3456:789a::/48"]
    {
        assert!(validate_entry(ok).is_ok(), "{ok}");
    }
    for (wide, why) in [
        ("0.0.0.0/0", "addresses of the public internet"),
        ("8.8.0.0/16", "addresses of the public internet"),
        ("192.0.0.0/8", "addresses of the public internet"),
        ("::/0", "addresses of the public internet"),
        ("2001:db8::/48", "addresses of the public internet"),
        ("10.0.0.0/8", "wider than a /16"),
        ("172.16.0.0/12", "wider than a /16"),
        ("fd00::/8", "wider than a /16 or /48"),
    ] {
        let error = validate_entry(wide).unwrap_err().to_string();
        assert!(error.starts_with(&format!("{wide:?} would allow plain HTTP")) && error.contains(why), "{error}");
        assert!(error.contains("10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16"), "{error}");
    }
}

#[test]
fn plain_http_only_for_allowed_registries_that_answer_it() {
    assert_eq!(transport("localhost:5000", &Allowance::Loopback, true).unwrap(), Transport::PlainHttp);
    assert_eq!(transport("localhost:5000", &Allowance::Loopback, false).unwrap(), Transport::Https);
    let listed = Allowance::Listed("198.18.0.2:5000".into());
    assert_eq!(transport("198.18.0.2:5000", &listed, true).unwrap(), Transport::PlainHttp);
    assert_eq!(transport("ghcr.io", &Allowance::HttpsOnly, false).unwrap(), Transport::Https);
    let error = transport("registry.lan:5000", &Allowance::HttpsOnly, true).unwrap_err().to_string();
    assert!(error.starts_with("registry.lan:5000 answers plain HTTP where HTTPS was expected"), "{error}");
    assert!(error.contains("insecure-registries") && error.contains("\"registry.lan:5000\""), "{error}");
    let said = "pinging container registry registry.lan:5000: Get \"https://registry.lan:5000/v2/\": http: server gave HTTP response to HTTPS client";
    assert_eq!(explain("registry.lan:5000", said), Some(http_where_https_expected("registry.lan:5000")));
    assert_eq!(explain("registry.lan:5000", "x509: certificate signed by unknown authority"), None);
}

#[test]
fn the_daemon_config_is_read_like_docker_does() {
    let read = |json: serde_json::Value| serde_json::from_value::<RegistryConfig>(json);
    let config = read(serde_json::json!({
        "IndexConfigs": {
            "docker.io": {"Mirrors": [], "Name": "docker.io", "Official": true, "Secure": true},
            "registry.lan:5000": {"Name": "registry.lan:5000", "Secure": false}
        },
        "InsecureRegistryCIDRs": ["198.18.0.0/15", "127.0.0.0/8"],
        "Mirrors": null
    }))
    .unwrap();
    assert!(daemon_treats_insecure(&config, "registry.lan:5000", &ips(&["10.0.0.5"])));
    assert!(daemon_treats_insecure(&config, "198.18.3.4:5000", &[]));
    assert!(daemon_treats_insecure(&config, "localhost:5000", &ips(&["127.0.0.1"])));
    // Docker 26 lists only 127.0.0.0/8 by default: an IPv6 loopback registry needs ::1/128 added.
    assert!(!daemon_treats_insecure(&config, "[::1]:5000", &[]));
    assert!(!daemon_treats_insecure(&config, "docker.io", &[]));
    let none = read(serde_json::json!({"IndexConfigs": {}, "InsecureRegistryCIDRs": null})).unwrap();
    assert!(!daemon_treats_insecure(&none, "198.18.3.4:5000", &[]));
    // Another shape is an error, never "no insecure registry" (which would refuse a good setup).
    let error = read(serde_json::json!({"InsecureRegistryCIDRs": []})).unwrap_err().to_string();
    assert!(error.contains("missing field `IndexConfigs`"), "{error}");
    assert!(read(serde_json::json!({"IndexConfigs": {"r": {"Name": "r"}}, "InsecureRegistryCIDRs": []})).is_err());
    assert!(daemon_fix("198.18.3.4:5000").contains("/etc/docker/daemon.json"));
}

#[test]
fn entries_hosts_and_references_are_parsed() {
    for ok in ["registry.lan:5000", "198.18.0.2:5000", "localhost", "[fd00::1]:5000", "10.0.0.0/16", "fd00::/48"] {
        assert!(validate_entry(ok).is_ok(), "{ok}");
    }
    for bad in ["http://registry.lan", "registry.lan/acme", "10.0.0.0/33", "", "a b"] {
        assert!(validate_entry(bad).is_err(), "{bad}");
    }
    assert_eq!(split_host("[::1]:5000"), ("::1", Some(5000)));
    assert_eq!(split_host("[::1]"), ("::1", None));
    assert_eq!(split_host("localhost:5000"), ("localhost", Some(5000)));
    assert_eq!(split_host("ghcr.io"), ("ghcr.io", None));
    assert_eq!(registry_of("localhost:5000/acme/beacon:1.0"), "localhost:5000");
    let mut transports = Transports::default();
    transports.insert("localhost:5000", Transport::PlainHttp);
    transports.insert("ghcr.io", Transport::Https);
    assert!(transports.plain_http("localhost:5000/acme/beacon@sha256:00"));
    assert!(transports.plain_http("localhost:5000"));
    assert!(!transports.plain_http("ghcr.io/acme/beacon:1"));
    assert!(!transports.plain_http("127.0.0.1:5000/acme/beacon:1"));
}
