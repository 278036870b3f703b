//! Which credentials log in to which registry, decided from the environment (pure: it takes a
//! lookup function). Per-registry variables win over `GITHUB_TOKEN` (ghcr.io only), which wins
//! over the generic pair. With none set, the developer's own docker login or credential helper is
//! used. Passwords live in `Secret`, which never prints.
//!
//! Credentials go to their host only. A per-registry variable's name folds the host (`.`, `-`
//! and `:` become `_`), so two hosts can share one: `check_distinct` refuses a run whose registries
//! would (`registry.example.com` and `registry-example.com`), naming both. The generic pair is for
//! the configured registries: with `--registry` or `XTASK_REGISTRY` (an override, or a typo in one)
//! it is refused rather than sent to whatever host was named.

use std::fmt;

use anyhow::{bail, Result};

/// A value that must never reach argv, logs, errors or files.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub registry: String,
    pub username: String,
    pub password: Secret,
    /// The variables it came from, for messages (never the values).
    pub source: String,
}

/// `XTASK_REGISTRY_<HOST>_USERNAME`: the host upper-cased, every other character `_`
/// (`127.0.0.1:5000` → `XTASK_REGISTRY_127_0_0_1_5000_USERNAME`).
pub fn per_registry_prefix(registry: &str) -> String {
    let key: String =
        registry.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("XTASK_REGISTRY_{key}")
}

/// Refuses registries (`HOST[:PORT]`, each with where it comes from, for the message) of which two
/// differ but read the same per-registry variables: credentials set for one would log in to the other.
pub fn check_distinct(hosts: &[(String, String)]) -> Result<()> {
    for (index, (host, origin)) in hosts.iter().enumerate() {
        let prefix = per_registry_prefix(host);
        let shared = hosts[..index].iter().find(|(other, _)| other != host && per_registry_prefix(other) == prefix);
        if let Some((other, other_origin)) = shared {
            bail!(
                "{host} ({origin}) and {other} ({other_origin}) would read the same credentials, \
                 {prefix}_USERNAME/_PASSWORD, so credentials meant for one would be sent to the other: \
                 is one a typo? Push to one of them, or give one another name (an alias, its address)"
            );
        }
    }
    Ok(())
}

/// The credentials for `registry`, or `None` to use the existing docker configuration. With the
/// registry `overridden` (`--registry`, `XTASK_REGISTRY`), the generic pair is refused.
pub fn for_registry(
    registry: &str,
    overridden: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Credential>> {
    let get = |name: &str| env(name).filter(|v| !v.is_empty());
    let prefix = per_registry_prefix(registry);
    let pairs = [(format!("{prefix}_USERNAME"), format!("{prefix}_PASSWORD")), generic()];
    for (index, (user_var, password_var)) in pairs.iter().enumerate() {
        let generic = index == 1;
        if generic && overridden && (get(user_var).is_some() || get(password_var).is_some()) {
            bail!(
                "{user_var}/{password_var} are set, but this run's registry is overridden (--registry or \
                 XTASK_REGISTRY): the generic pair is sent only to the configured registries, never to {registry}. \
                 Set {prefix}_USERNAME/_PASSWORD for {registry}, or unset {user_var} and {password_var} for this run"
            );
        }
        match (get(user_var), get(password_var)) {
            (Some(username), Some(password)) => {
                return Ok(Some(Credential {
                    registry: registry.to_owned(),
                    username,
                    password: Secret(password),
                    source: format!("{user_var}/{password_var}"),
                }))
            }
            (Some(_), None) => bail!("{user_var} is set but {password_var} is not: set both, or neither"),
            (None, Some(_)) => bail!("{password_var} is set but {user_var} is not: set both, or neither"),
            (None, None) => {}
        }
        // GitHub's token serves ghcr.io after the per-registry pair and before the generic one.
        if index == 0 && registry == "ghcr.io" {
            if let Some(token) = get("GITHUB_TOKEN") {
                return Ok(Some(Credential {
                    registry: registry.to_owned(),
                    username: get("GITHUB_ACTOR").unwrap_or_else(|| "x-access-token".to_owned()),
                    password: Secret(token),
                    source: "GITHUB_TOKEN".to_owned(),
                }));
            }
        }
    }
    Ok(None)
}

fn generic() -> (String, String) {
    ("REGISTRY_USERNAME".to_owned(), "REGISTRY_PASSWORD".to_owned())
}

/// An environment lookup over fixed pairs, for tests of the decisions that read the environment.
#[cfg(test)]
pub fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(registry: &str, vars: &[(&str, &str)]) -> Option<(String, String)> {
        for_registry(registry, false, lookup(vars)).unwrap().map(|c| (c.username, c.source))
    }

    #[test]
    fn precedence_per_registry_then_github_token_then_generic() {
        let all = [
            ("XTASK_REGISTRY_GHCR_IO_USERNAME", "bot"),
            ("XTASK_REGISTRY_GHCR_IO_PASSWORD", "p1"),
            ("GITHUB_TOKEN", "p2"),
            ("GITHUB_ACTOR", "octocat"),
            ("REGISTRY_USERNAME", "ci"),
            ("REGISTRY_PASSWORD", "p3"),
        ];
        let per = "XTASK_REGISTRY_GHCR_IO_USERNAME/XTASK_REGISTRY_GHCR_IO_PASSWORD";
        assert_eq!(source("ghcr.io", &all), Some(("bot".into(), per.into())));
        assert_eq!(source("ghcr.io", &all[2..]), Some(("octocat".into(), "GITHUB_TOKEN".into())));
        assert_eq!(source("ghcr.io", &all[2..3]), Some(("x-access-token".into(), "GITHUB_TOKEN".into())));
        assert_eq!(source("docker.io", &all), Some(("ci".into(), "REGISTRY_USERNAME/REGISTRY_PASSWORD".into())));
        assert_eq!(source("docker.io", &all[..4]), None, "GITHUB_TOKEN is for ghcr.io only");
        assert_eq!(source("ghcr.io", &[("REGISTRY_USERNAME", "")]), None, "empty means unset");
    }

    #[test]
    fn per_registry_names_fold_ports_and_dots() {
        assert_eq!(per_registry_prefix("127.0.0.1:5000"), "XTASK_REGISTRY_127_0_0_1_5000");
        assert_eq!(per_registry_prefix("registry-1.docker.io"), "XTASK_REGISTRY_REGISTRY_1_DOCKER_IO");
    }

    #[test]
    fn a_half_set_pair_is_an_error_naming_the_missing_variable() {
        let err = for_registry("docker.io", false, lookup(&[("REGISTRY_USERNAME", "ci")])).unwrap_err().to_string();
        assert!(err.contains("REGISTRY_PASSWORD is not"), "{err}");
        let err =
            for_registry("docker.io", false, lookup(&[("REGISTRY_PASSWORD", "hunter2")])).unwrap_err().to_string();
        assert!(err.contains("REGISTRY_USERNAME is not") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn hosts_whose_variables_would_be_shared_are_refused_naming_both() {
        let hosts = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter().map(|(h, o)| (h.to_string(), o.to_string())).collect()
        };
        let typo = hosts(&[
            ("registry.example.com", "images.a"),
            ("ghcr.io", "images.b"),
            ("registry-example.com", "images.c"),
        ]);
        let err = check_distinct(&typo).unwrap_err().to_string();
        assert!(err.starts_with("registry-example.com (images.c) and registry.example.com (images.a)"), "{err}");
        assert!(err.contains("XTASK_REGISTRY_REGISTRY_EXAMPLE_COM_USERNAME/_PASSWORD"), "{err}");
        assert!(check_distinct(&hosts(&[("127.0.0.1:5000", "a"), ("127.0.0.1:5000", "b"), ("127.0.0.1", "c")])).is_ok());
        assert!(check_distinct(&hosts(&[("a.io:5000", "x"), ("a.io.5000", "y")])).is_err(), "the port folds too");
    }

    #[test]
    fn the_generic_pair_is_refused_for_an_overridden_registry() {
        let generic = [("REGISTRY_USERNAME", "ci"), ("REGISTRY_PASSWORD", "hunter2")];
        let err = for_registry("registry-example.com", true, lookup(&generic)).unwrap_err().to_string();
        assert!(
            err.contains("REGISTRY_USERNAME/REGISTRY_PASSWORD are set, but this run's registry is overridden"),
            "{err}"
        );
        assert!(
            err.contains("XTASK_REGISTRY_REGISTRY_EXAMPLE_COM_USERNAME/_PASSWORD for registry-example.com"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        let half = for_registry("localhost:5000", true, lookup(&generic[1..])).unwrap_err().to_string();
        assert!(half.contains("overridden"), "one of the pair is enough: {half}");
        // The override's own variables (or GITHUB_TOKEN for ghcr.io) are used; the generic pair is never read.
        let own = [("XTASK_REGISTRY_LOCALHOST_5000_USERNAME", "me"), ("XTASK_REGISTRY_LOCALHOST_5000_PASSWORD", "pw")];
        let both: Vec<(&str, &str)> = own.iter().chain(&generic).copied().collect();
        assert_eq!(for_registry("localhost:5000", true, lookup(&both)).unwrap().unwrap().username, "me");
        assert_eq!(for_registry("localhost:5000", true, lookup(&[])).unwrap(), None);
        assert!(for_registry("docker.io", false, lookup(&generic)).unwrap().is_some(), "configured: used");
    }

    #[test]
    fn secrets_never_print() {
        let credential =
            for_registry("docker.io", false, lookup(&[("REGISTRY_USERNAME", "ci"), ("REGISTRY_PASSWORD", "hunter2")]))
                .unwrap()
                .unwrap();
        assert!(!format!("{credential:?}").contains("hunter2"));
        assert_eq!(credential.password.expose(), "hunter2");
    }
}
