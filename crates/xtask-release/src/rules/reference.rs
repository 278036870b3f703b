//! The Docker image reference grammar (distribution/reference): repositories and tags.
//!
//! Every repository from the configuration and every tag the plan computes is checked here, so a
//! bad name fails in `cargo xtask plan` instead of half-way through a push.

use anyhow::{bail, Result};

/// Longest tag the registry API accepts (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`).
const MAX_TAG_LEN: usize = 128;
/// Longest repository name (registry host and path) the reference grammar accepts.
const MAX_NAME_LEN: usize = 255;

/// Checks `tag` against the Docker tag grammar `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<()> {
    let mut chars = tag.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok || tag.len() > MAX_TAG_LEN {
        bail!(
            "{tag:?} is not a valid Docker tag: tags match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}} \
             (a version with build metadata `+…` cannot be a tag)"
        );
    }
    Ok(())
}

/// Checks one path component of a repository: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return false;
        }
    }
    true
}

/// Checks a registry host: DNS labels (`[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?`) joined by dots,
/// or an IPv6 address in brackets (`[::1]`), and an optional `:port`.
pub fn is_registry_host(host: &str) -> bool {
    let port_ok = |port: Option<&str>| port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if let Some((address, rest)) = host.strip_prefix('[').and_then(|h| h.split_once(']')) {
        let port = if rest.is_empty() { Some(None) } else { rest.strip_prefix(':').map(Some) };
        return address.parse::<std::net::Ipv6Addr>().is_ok() && port.is_some_and(port_ok);
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let label_ok = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    port_ok(port) && name.split('.').all(label_ok)
}

/// Whether the first component of a name is a registry host (Docker's rule: it contains `.` or
/// `:`, or is `localhost`), as opposed to a namespace on Docker Hub.
fn looks_like_registry(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

/// A repository split into its registry host and its path (`ghcr.io` + `acme/beacon`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository<'a> {
    pub registry: &'a str,
    pub path: &'a str,
}

impl<'a> Repository<'a> {
    /// Parses a fully qualified repository (`REGISTRY/PATH`, no tag or digest, lower-case path).
    pub fn parse(name: &'a str) -> Result<Self> {
        let hint = "write it as REGISTRY/NAMESPACE/NAME in lower case, e.g. ghcr.io/acme/beacon";
        if name.len() > MAX_NAME_LEN {
            bail!("{name:?} is longer than {MAX_NAME_LEN} characters");
        }
        if name.contains('@') || name.rsplit('/').next().is_some_and(|l| l.contains(':')) {
            bail!("{name:?} carries a tag or digest: {hint} (tags are computed from the version)");
        }
        let Some((registry, path)) = name.split_once('/') else {
            bail!("{name:?} has no registry host: {hint}");
        };
        if !looks_like_registry(registry) || !is_registry_host(registry) {
            bail!("{name:?} does not start with a registry host: {hint}");
        }
        if name != name.to_ascii_lowercase() {
            bail!("{name:?} is not lower case: {hint}");
        }
        if let Some(bad) = path.split('/').find(|c| !is_path_component(c)) {
            bail!(
                "{name:?} has an invalid path component {bad:?}: components are lower-case \
                 letters and digits separated by `.`, `_`, `__` or dashes; {hint}"
            );
        }
        Ok(Self { registry, path })
    }

    /// The last path component: the image name that `--registry` keeps.
    pub fn image_name(&self) -> &'a str {
        self.path.rsplit('/').next().unwrap_or(self.path)
    }
}

/// Replaces the registry and namespace of `repository` with `registry` (`HOST[:PORT][/NAMESPACE]`),
/// keeping the image name: `ghcr.io/acme/beacon` with `localhost:5000/acme` → `localhost:5000/acme/beacon`.
pub fn rewrite_registry(repository: &str, registry: &str) -> Result<String> {
    let image_name = Repository::parse(repository)?.image_name();
    let rewritten = format!("{}/{image_name}", registry.trim_end_matches('/'));
    Repository::parse(&rewritten).map_err(|error| {
        anyhow::anyhow!(
            "--registry {registry:?} (or XTASK_REGISTRY) gives an invalid repository: {error}; \
             pass HOST[:PORT]/NAMESPACE, e.g. localhost:5000/acme"
        )
    })?;
    Ok(rewritten)
}

/// The repositories (`host/path`) the versioned tags were pushed to, each once.
pub fn pushed_repositories(versioned: &[String]) -> Result<Vec<String>> {
    let mut repositories = Vec::new();
    for reference in versioned {
        let repository = reference
            .rsplit_once(':')
            .map(|(r, _)| r)
            .ok_or_else(|| anyhow::anyhow!("{reference}: a versioned tag without a tag"))?;
        Repository::parse(repository)?;
        if !repositories.iter().any(|r| r == repository) {
            repositories.push(repository.to_owned());
        }
    }
    Ok(repositories)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_docker_grammar() {
        for ok in ["1.2.3", "1.2.3-rc.1", "latest", "sha-0123abc", "_x", "A-b_c.d", &"a".repeat(128)] {
            assert!(validate_tag(ok).is_ok(), "{ok} should be valid");
        }
        for bad in ["", ".1", "-x", "1.2.3+build.5", "a/b", "a:b", &"a".repeat(129)] {
            assert!(validate_tag(bad).is_err(), "{bad} should be invalid");
        }
    }

    #[test]
    fn repositories_follow_the_reference_grammar() {
        let cases = [
            ("ghcr.io/acme/beacon", Some(("ghcr.io", "acme/beacon"))),
            ("docker.io/acme/beacon", Some(("docker.io", "acme/beacon"))),
            ("localhost:5000/acme/be_acon", Some(("localhost:5000", "acme/be_acon"))),
            ("localhost/beacon", Some(("localhost", "beacon"))),
            ("registry.example.com:443/a/b--c/d.e", Some(("registry.example.com:443", "a/b--c/d.e"))),
            ("acme/beacon", None),
            ("beacon", None),
            ("ghcr.io/Acme/beacon", None),
            ("GHCR.io/acme/beacon", None),
            ("ghcr.io/acme/beacon:1.0", None),
            ("ghcr.io/acme/beacon@sha256:00", None),
            ("ghcr.io/acme/-beacon", None),
            ("ghcr.io/acme/beacon.", None),
            ("ghcr.io/acme//beacon", None),
            ("ghcr.io/acme/be...acon", None),
            ("-ghcr.io/acme/beacon", None),
            ("localhost:port/beacon", None),
            ("[::1]:5000/acme/beacon", Some(("[::1]:5000", "acme/beacon"))),
            ("[fd00::1]/beacon", Some(("[fd00::1]", "beacon"))),
            ("[::1]:x/beacon", None),
            ("[not-an-address]:5000/beacon", None),
        ];
        for (name, expected) in cases {
            let parsed = Repository::parse(name).ok().map(|r| (r.registry, r.path));
            assert_eq!(parsed, expected, "{name}");
        }
    }

    #[test]
    fn registry_rewrite_keeps_the_image_name() {
        let cases = [
            ("ghcr.io/acme/beacon", "localhost:5000/acme", "localhost:5000/acme/beacon"),
            ("docker.io/acme/beacon", "localhost:5000/acme/", "localhost:5000/acme/beacon"),
            ("ghcr.io/acme/tools/beacon", "reg.local/x/y", "reg.local/x/y/beacon"),
            ("ghcr.io/acme/beacon", "localhost:5000", "localhost:5000/beacon"),
        ];
        for (repository, registry, expected) in cases {
            assert_eq!(rewrite_registry(repository, registry).unwrap(), expected);
        }
        let error = rewrite_registry("ghcr.io/acme/beacon", "Local Host/acme").unwrap_err();
        assert!(error.to_string().contains("--registry"), "{error}");
    }

    #[test]
    fn pushed_repositories_each_once_in_order() {
        let versioned = ["ghcr.io/acme/beacon:1.2.3", "ghcr.io/acme/beacon:1.2", "docker.io/acme/beacon:1.2.3"];
        let versioned: Vec<String> = versioned.map(str::to_owned).to_vec();
        assert_eq!(pushed_repositories(&versioned).unwrap(), ["ghcr.io/acme/beacon", "docker.io/acme/beacon"]);
        assert!(pushed_repositories(&["no-tag".to_owned()]).is_err());
    }
}
