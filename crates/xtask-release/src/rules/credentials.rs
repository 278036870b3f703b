//! Which credentials log in to which registry, decided from the environment (pure: it takes a
//! lookup function). Per-registry variables win over `GITHUB_TOKEN` (ghcr.io only), which wins
//! over the generic pair. With none set, the developer's own docker login or credential helper is
//! used. Passwords live in `Secret`, which never prints.

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

/// The credentials for `registry`, or `None` to use the existing docker configuration.
pub fn for_registry(registry: &str, env: impl Fn(&str) -> Option<String>) -> Result<Option<Credential>> {
    let get = |name: &str| env(name).filter(|v| !v.is_empty());
    let prefix = per_registry_prefix(registry);
    let pairs = [(format!("{prefix}_USERNAME"), format!("{prefix}_PASSWORD")), generic()];
    for (index, (user_var, password_var)) in pairs.iter().enumerate() {
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
        for_registry(registry, lookup(vars)).unwrap().map(|c| (c.username, c.source))
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
        let err = for_registry("docker.io", lookup(&[("REGISTRY_USERNAME", "ci")])).unwrap_err().to_string();
        assert!(err.contains("REGISTRY_PASSWORD is not"), "{err}");
        let err = for_registry("docker.io", lookup(&[("REGISTRY_PASSWORD", "hunter2")])).unwrap_err().to_string();
        assert!(err.contains("REGISTRY_USERNAME is not") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let credential =
            for_registry("docker.io", lookup(&[("REGISTRY_USERNAME", "ci"), ("REGISTRY_PASSWORD", "hunter2")]))
                .unwrap()
                .unwrap();
        assert!(!format!("{credential:?}").contains("hunter2"));
        assert_eq!(credential.password.expose(), "hunter2");
    }
}
