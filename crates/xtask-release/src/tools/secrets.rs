//! The run's secrets, out of every child's environment. When an engine subcommand starts,
//! [`withhold`] moves each secret variable out of this process's environment into a store here,
//! so no child inherits one: not buildx, trivy, curl, git, `cargo` (and every build script and
//! proc-macro it compiles and runs), whatever the shell or duct starts. Each secret is then handed
//! to the one step that needs it, and to no other:
//!
//! | variables | handed to |
//! |---|---|
//! | `XTASK_REGISTRY_<HOST>_USERNAME`/`_PASSWORD`, `REGISTRY_USERNAME`/`_PASSWORD`, `GITHUB_TOKEN` | `docker login --password-stdin`, on its stdin (`tools::registry`) |
//! | `COSIGN_PRIVATE_KEY`, `COSIGN_PASSWORD` | `cosign public-key`, `sign`, `attest` with a key, in their environment (`tools::cosign`) |
//! | `ACTIONS_ID_TOKEN_REQUEST_TOKEN` | keyless `cosign sign` and `attest`, in their environment |
//! | `ACTIONS_RUNTIME_TOKEN` | `docker buildx build` with the GitHub Actions cache (`type=gha`) |
//! | `CARGO_REGISTRY_TOKEN`, `CARGO_REGISTRIES_<NAME>_TOKEN` | the cargo commands that fetch crates on the host and run no build script: `cargo vendor`, `cargo tree`, `cargo metadata` with the dependencies (`cargo_tokens`) |
//! | `GH_TOKEN` | nothing: the engine runs no `gh` |
//!
//! A team's own subcommands (`main_with`) keep their environment: the engine does not know what
//! they need. Rules read the secrets through [`lookup`], never the shell's environment.

use std::collections::BTreeMap;
use std::sync::Mutex;

use xshell::Shell;

/// Secrets by exact name.
const NAMES: [&str; 8] = [
    "REGISTRY_USERNAME",
    "REGISTRY_PASSWORD",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "COSIGN_PRIVATE_KEY",
    "COSIGN_PASSWORD",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
];

/// The store: each withheld variable, `None` where a run hides one (the rehearsal hides the real
/// registry credentials). A name not in it is read from the environment (nothing was withheld).
static STORE: Mutex<BTreeMap<String, Option<String>>> = Mutex::new(BTreeMap::new());

/// Whether `name` is a secret: withheld from children, read only through this module.
pub fn is_secret(name: &str) -> bool {
    NAMES.contains(&name) || is_registry_credential(name) || is_cargo_token(name)
}

/// A cargo registry token: crates.io's `CARGO_REGISTRY_TOKEN`, or a private registry's
/// `CARGO_REGISTRIES_<NAME>_TOKEN`.
pub fn is_cargo_token(name: &str) -> bool {
    let per_registry = name
        .strip_prefix("CARGO_REGISTRIES_")
        .and_then(|rest| rest.strip_suffix("_TOKEN"))
        .is_some_and(|registry| !registry.is_empty());
    per_registry || name == "CARGO_REGISTRY_TOKEN"
}

/// The cargo registry tokens that are set, for the cargo commands that fetch crates from a private
/// registry on the host and run no build script (`cargo vendor`, `cargo tree`, `cargo metadata`): never a compile.
pub fn cargo_tokens() -> Vec<(String, String)> {
    let withheld: Vec<String> = lock().keys().filter(|name| is_cargo_token(name)).cloned().collect();
    let env = std::env::vars().map(|(name, _)| name).filter(|name| is_cargo_token(name));
    let mut names: Vec<String> = withheld.into_iter().chain(env).collect();
    names.sort();
    names.dedup();
    names.into_iter().filter_map(|name| get(&name).map(|value| (name, value))).collect()
}

/// A registry login's variable: the generic pair, `GITHUB_TOKEN`, or a per-registry pair
/// (`XTASK_REGISTRY_<HOST>_USERNAME`/`_PASSWORD`; `XTASK_REGISTRY` itself is the override, no secret).
pub fn is_registry_credential(name: &str) -> bool {
    let per_registry = name.strip_prefix("XTASK_REGISTRY_").is_some_and(|rest| {
        rest.strip_suffix("_USERNAME").or_else(|| rest.strip_suffix("_PASSWORD")).is_some_and(|host| !host.is_empty())
    });
    per_registry || ["REGISTRY_USERNAME", "REGISTRY_PASSWORD", "GITHUB_TOKEN"].contains(&name)
}

/// Moves every secret variable out of this process's environment into the store. Called once,
/// first thing, while the process has one thread (`std::env::remove_var` is not thread-safe).
pub fn withhold() {
    let mut store = lock();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str().filter(|name| is_secret(name)) else { continue };
        store.insert(name.to_owned(), value.into_string().ok());
        std::env::remove_var(name);
    }
}

/// The secret `name` (empty included: `COSIGN_PASSWORD=` is a key without a password).
pub fn get(name: &str) -> Option<String> {
    match lock().get(name) {
        Some(value) => value.clone(),
        None => std::env::var(name).ok(),
    }
}

/// An environment lookup for the rules that read variables: secrets from the store, every other
/// variable from the shell (its own variables over this process's).
pub fn lookup(sh: &Shell) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| if is_secret(name) { get(name) } else { sh.var(name).ok() }
}

/// The variables `names` that are set, as pairs for the one command that needs them (`Cmd::envs`).
pub fn env_for(names: &[&str]) -> Vec<(String, String)> {
    names.iter().filter_map(|name| get(name).map(|value| (name.to_string(), value))).collect()
}

/// Secrets replaced for a while (the rehearsal's and `--local`'s throwaway key, the real registry
/// credentials hidden from a throwaway registry), put back when dropped.
#[must_use = "the secrets are put back when this is dropped"]
pub struct Replaced {
    earlier: Vec<(String, Option<Option<String>>)>,
}

/// Sets each of `values` (`None`: hides it) until the returned value is dropped.
pub fn replace(values: Vec<(String, Option<String>)>) -> Replaced {
    let mut store = lock();
    let mut earlier = Vec::new();
    for (name, value) in values {
        if !store.contains_key(&name) {
            // Not withheld (no `withhold` in this process): hidden from children from now on too.
            let from_env = std::env::var(&name).ok();
            if from_env.is_some() {
                std::env::remove_var(&name);
            }
            store.insert(name.clone(), from_env);
        }
        let before = store.insert(name.clone(), value);
        earlier.push((name, before));
    }
    Replaced { earlier }
}

/// Every registry credential hidden, until the returned value is dropped: nothing is sent to a
/// throwaway registry.
pub fn hide_registry_credentials() -> Replaced {
    let names: Vec<String> = lock().keys().filter(|name| is_registry_credential(name)).cloned().collect();
    let env = std::env::vars().map(|(name, _)| name).filter(|name| is_registry_credential(name));
    let mut all: Vec<String> = names.into_iter().chain(env).collect();
    all.sort();
    all.dedup();
    replace(all.into_iter().map(|name| (name, None)).collect())
}

impl Drop for Replaced {
    fn drop(&mut self) {
        let mut store = lock();
        for (name, before) in self.earlier.drain(..).rev() {
            match before {
                Some(value) => store.insert(name, value),
                None => store.remove(&name),
            };
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, BTreeMap<String, Option<String>>> {
    STORE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secrets_are_named_exactly() {
        for secret in [
            "REGISTRY_PASSWORD",
            "XTASK_REGISTRY_GHCR_IO_PASSWORD",
            "XTASK_REGISTRY_127_0_0_1_5000_USERNAME",
            "GITHUB_TOKEN",
            "GH_TOKEN",
            "COSIGN_PRIVATE_KEY",
            "COSIGN_PASSWORD",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "ACTIONS_RUNTIME_TOKEN",
            "CARGO_REGISTRY_TOKEN",
            "CARGO_REGISTRIES_ACME_TOKEN",
        ] {
            assert!(is_secret(secret), "{secret}");
        }
        for plain in [
            "XTASK_REGISTRY",
            "XTASK_REGISTRY__PASSWORD",
            "GITHUB_ACTOR",
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "PATH",
            "CARGO_REGISTRIES__TOKEN",
            "CARGO_REGISTRIES_ACME_INDEX",
            "CARGO_REGISTRIES_ACME_CREDENTIAL_PROVIDER",
        ] {
            assert!(!is_secret(plain), "{plain}");
        }
    }

    /// One test for the process-wide store (tests run in parallel threads).
    #[test]
    fn replaced_secrets_are_put_back_and_hidden_ones_read_as_unset() {
        let name = "XTASK_REGISTRY_SECRETS_TEST_PASSWORD";
        assert_eq!(get(name), None);
        {
            let _set = replace(vec![(name.to_owned(), Some("throwaway".to_owned()))]);
            assert_eq!(get(name), Some("throwaway".to_owned()));
            assert_eq!(
                env_for(&[name, "XTASK_REGISTRY_NOT_SET_PASSWORD"]),
                [(name.to_owned(), "throwaway".to_owned())]
            );
            let _hidden = hide_registry_credentials();
            assert_eq!(get(name), None);
        }
        assert_eq!(get(name), None);
        assert!(std::env::var_os(name).is_none(), "never in the environment");
    }
}
