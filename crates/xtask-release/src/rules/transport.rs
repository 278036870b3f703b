//! Plain HTTP or HTTPS for a registry, pure: docker's rule without DNS, applied to every tool the
//! pipeline runs.
//!
//! A registry may be reached over plain HTTP only when it is loopback by its literal name
//! (`localhost`, an address of 127.0.0.0/8, `::1`), or listed in `[workspace.metadata.xtask]
//! insecure-registries` (by `HOST[:PORT]` exactly, or a CIDR holding its literal address). DNS never
//! decides: a name that resolves to loopback or into a listed range is HTTPS only (docker's own
//! rule, moby `registry.isInsecure`, resolves; whoever answers DNS could then turn TLS off). A listed
//! range must be of a private network and no wider than a /16 (IPv6 /48): `0.0.0.0/0` or a public
//! range is refused. Even then plain HTTP is used only for a registry that answers it: one that
//! speaks TLS keeps TLS with verification. Anything else is HTTPS only, and a registry answering
//! plain HTTP there is an error that names the setting.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::rules::json::nullable;
use crate::rules::reference::is_registry_host;

/// Where the list of registries allowed to speak plain HTTP lives.
pub const SETTING: &str = "[workspace.metadata.xtask] insecure-registries";

/// How the pipeline's tools reach one registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// TLS, certificates verified (the default, and always for a registry that speaks TLS).
    Https,
    /// Plain HTTP: an allowed registry that does not speak TLS.
    PlainHttp,
}

/// Whether a registry may be reached over plain HTTP, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allowance {
    HttpsOnly,
    /// It is loopback by its literal name (`localhost`, 127.0.0.0/8, `::1`), which docker treats
    /// as insecure by default.
    Loopback,
    /// It matches this `insecure-registries` entry.
    Listed(String),
}

/// Docker's insecure-registry rule: `registry` is insecure if `names` holds it (`HOST[:PORT]`,
/// exactly as written) or a CIDR of `cidrs` contains one of its addresses (or, when none were
/// resolved, its literal address).
pub fn docker_insecure(registry: &str, addresses: &[IpAddr], names: &[&str], cidrs: &[&str]) -> bool {
    names.contains(&registry)
        || addresses_or_literal(registry, addresses)
            .iter()
            .any(|address| cidrs.iter().filter_map(|c| Cidr::parse(c)).any(|cidr| cidr.contains(*address)))
}

/// What this workspace allows for `registry`, by its literal name and address only (never DNS).
pub fn allowance(registry: &str, insecure: &[String]) -> Allowance {
    if split_host(registry).0 == "localhost" || docker_insecure(registry, &[], &[], &LOOPBACK) {
        return Allowance::Loopback;
    }
    let entry = insecure.iter().find(|entry| {
        let entry = entry.as_str();
        docker_insecure(registry, &[], &[entry], &[entry])
    });
    entry.map_or(Allowance::HttpsOnly, |entry| Allowance::Listed(entry.clone()))
}

/// The transport for `registry` given whether it `answers_plain_http`: HTTPS unless it answers
/// plain HTTP, which is an error where HTTPS was expected.
pub fn transport(registry: &str, allowance: &Allowance, answers_plain_http: bool) -> Result<Transport> {
    match (answers_plain_http, allowance) {
        (false, _) => Ok(Transport::Https),
        (true, Allowance::HttpsOnly) => bail!("{}", http_where_https_expected(registry)),
        (true, _) => Ok(Transport::PlainHttp),
    }
}

/// The error for a registry that answered plain HTTP where HTTPS was expected.
pub fn http_where_https_expected(registry: &str) -> String {
    format!(
        "{registry} answers plain HTTP where HTTPS was expected: it is neither loopback nor listed in {SETTING}. \
         Serve it over TLS, or, on a network you trust, add \"{registry}\" to insecure-registries in the root Cargo.toml \
         (and to \"insecure-registries\" in /etc/docker/daemon.json, for docker push)"
    )
}

/// A tool's error output, explained when it is a TLS client that got a plain-HTTP answer (Go's
/// `http: server gave HTTP response to HTTPS client`, from docker, skopeo, cosign and trivy alike).
pub fn explain(registry: &str, tool_output: &str) -> Option<String> {
    tool_output.contains("server gave HTTP response to HTTPS client").then(|| http_where_https_expected(registry))
}

/// `docker info`'s `RegistryConfig`, as far as it is read: the registries dockerd knows by name,
/// each secure or not, and the CIDRs it treats as insecure. Both are always there (an empty
/// configuration lists `docker.io` and `127.0.0.0/8`); a `null` list is read as empty.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegistryConfig {
    pub index_configs: std::collections::BTreeMap<String, IndexConfig>,
    #[serde(rename = "InsecureRegistryCIDRs", deserialize_with = "nullable")]
    pub insecure_registry_cidrs: Vec<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexConfig {
    pub secure: bool,
}

/// Whether dockerd, configured as `docker info`'s `RegistryConfig` says, treats `registry` as
/// insecure (and so pushes to it over plain HTTP).
pub fn daemon_treats_insecure(registry_config: &RegistryConfig, registry: &str, addresses: &[IpAddr]) -> bool {
    let insecure_names: Vec<&str> = registry_config
        .index_configs
        .iter()
        .filter(|(_, index)| !index.secure)
        .map(|(name, _)| name.as_str())
        .collect();
    let cidrs: Vec<&str> = registry_config.insecure_registry_cidrs.iter().map(String::as_str).collect();
    docker_insecure(registry, addresses, &insecure_names, &cidrs)
}

/// The fix when dockerd would not push to a plain-HTTP registry.
pub fn daemon_fix(registry: &str) -> String {
    format!(
        "dockerd does not treat {registry} as an insecure registry, so `docker push` would insist on HTTPS: add \"{registry}\" \
         to \"insecure-registries\" in /etc/docker/daemon.json and restart dockerd (`docker info` lists them under Insecure Registries)"
    )
}

/// Checks one `insecure-registries` entry: `HOST[:PORT]`, or a CIDR (`10.1.0.0/16`) of a private
/// network (`PRIVATE`) no wider than a /16 (IPv6: /48).
pub fn validate_entry(entry: &str) -> Result<()> {
    let Some(cidr) = Cidr::parse(entry) else {
        if !is_registry_host(entry) {
            bail!("{entry:?} is neither a registry HOST[:PORT] (e.g. \"registry.lan:5000\", \"[fd00::1]:5000\") nor a CIDR (e.g. \"10.1.0.0/16\")");
        }
        return Ok(());
    };
    let private = PRIVATE.iter().filter_map(|range| Cidr::parse(range)).any(|range| range.holds(&cidr));
    let narrowest = if cidr.network.is_ipv4() { 16 } else { 48 };
    if !private || cidr.prefix < narrowest {
        bail!(
            "{entry:?} would allow plain HTTP (credentials and images in clear) to {}: list the registry's \
             HOST[:PORT], or a range of a private network ({}) no wider than a /16 (IPv6: /48)",
            if private { "a whole network wider than a /16 or /48" } else { "addresses of the public internet" },
            PRIVATE.join(", ")
        );
    }
    Ok(())
}

/// The ranges of private networks a listed CIDR must lie in: RFC 1918, shared address space
/// (RFC 6598), benchmarking (RFC 2544), link-local, loopback, and IPv6 unique-local and link-local.
const PRIVATE: [&str; 10] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "198.18.0.0/15",
    "169.254.0.0/16",
    "127.0.0.0/8",
    "fc00::/7",
    "fe80::/10",
    "::1/128",
];

/// The host of `HOST[:PORT]` without brackets, and the port if any (`[::1]:5000` → `::1`, 5000).
pub fn split_host(registry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = registry.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match registry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().ok()),
        _ => (registry, None),
    }
}

/// The registry (`HOST[:PORT]`) of a reference such as `localhost:5000/acme/beacon:1.0`.
pub fn registry_of(reference: &str) -> &str {
    reference.split('/').next().unwrap_or(reference)
}

/// The transport chosen for each registry a run talks to; registries not in it get HTTPS.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Transports(BTreeMap<String, Transport>);

impl Transports {
    pub fn insert(&mut self, registry: &str, transport: Transport) {
        self.0.insert(registry.to_owned(), transport);
    }

    /// Whether the registry of `reference` (an image reference or a bare `HOST[:PORT]`) is plain HTTP.
    pub fn plain_http(&self, reference: &str) -> bool {
        self.0.get(registry_of(reference)) == Some(&Transport::PlainHttp)
    }
}

/// docker's default insecure CIDRs: loopback.
const LOOPBACK: [&str; 2] = ["127.0.0.0/8", "::1/128"];

fn addresses_or_literal(registry: &str, addresses: &[IpAddr]) -> Vec<IpAddr> {
    if !addresses.is_empty() {
        return addresses.to_vec();
    }
    split_host(registry).0.parse().into_iter().collect()
}

/// An IP network, `ADDRESS/PREFIX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u32,
}

impl Cidr {
    fn parse(text: &str) -> Option<Cidr> {
        let (address, prefix) = text.split_once('/')?;
        let network: IpAddr = address.parse().ok()?;
        let prefix: u32 = prefix.parse().ok()?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        (prefix <= bits).then_some(Cidr { network, prefix })
    }

    /// Whether `inner` lies wholly inside this range.
    fn holds(&self, inner: &Cidr) -> bool {
        inner.prefix >= self.prefix && self.contains(inner.network)
    }

    fn contains(&self, address: IpAddr) -> bool {
        let masked = |value: u128, bits: u32| if self.prefix == 0 { 0 } else { value >> (bits - self.prefix) };
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(a)) => masked(u32::from(net).into(), 32) == masked(u32::from(a).into(), 32),
            (IpAddr::V6(net), IpAddr::V6(a)) => masked(u128::from(net), 128) == masked(u128::from(a), 128),
            _ => false,
        }
    }
}

#[cfg(test)]
#[path = "transport_tests.rs"]
mod tests;
