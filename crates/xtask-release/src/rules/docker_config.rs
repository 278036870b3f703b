//! Which credentials a docker `config.json` holds for a registry, pure, read as the docker CLI
//! reads it: a credential helper named for the registry (`credHelpers`) or for all (`credsStore`),
//! else the file's own entry (`auths`: `auth`, `username`/`password`, or an `identitytoken`).
//! The registry client (`tools::registry_auth`) runs the helper and falls back to the file's entry
//! only when the helper has none; a helper that is not installed stops it.

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::rules::registry_api;

/// What the file keeps for one registry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lookup {
    /// The helper to ask first (`docker-credential-NAME`), and which key named it.
    pub helper: Option<(String, &'static str)>,
    pub stored: Stored,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Stored {
    #[default]
    None,
    Basic {
        username: String,
        secret: String,
    },
    /// An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user).
    IdentityToken(String),
}

impl std::fmt::Display for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        match self {
            Stored::None => write!(f, "no credentials"),
            Stored::Basic { username, .. } => write!(f, "user {username}"),
            Stored::IdentityToken(_) => write!(f, "an identity token"),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct File {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, Entry>,
    #[serde(default)]
    cred_helpers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    creds_store: String,
}

#[derive(Deserialize, Default)]
struct Entry {
    #[serde(default)]
    auth: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    identitytoken: String,
}

/// The names a registry goes by in a config file's keys: Docker Hub's are its index's.
fn names(registry: &str) -> Vec<&str> {
    match registry_api::api_host(registry) {
        "registry-1.docker.io" => vec!["docker.io", "index.docker.io", "registry-1.docker.io"],
        _ => vec![registry],
    }
}

/// A key as docker compares it: without scheme and path (`https://index.docker.io/v1/` →
/// `index.docker.io`).
fn host_of(key: &str) -> &str {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// What `config` (a `config.json`'s text, `path` for errors) keeps for `registry` (`HOST[:PORT]`).
pub fn lookup(config: &str, path: &str, registry: &str) -> Result<Lookup> {
    let file: File = serde_json::from_str(config).with_context(|| format!("{path} is not a docker config file"))?;
    let names = names(registry);
    let named = |key: &String| names.contains(&host_of(key));
    let helper = file
        .cred_helpers
        .iter()
        .find(|(key, _)| named(key))
        .map(|(_, helper)| (helper.clone(), "credHelpers"))
        .or_else(|| Some(file.creds_store.clone()).filter(|s| !s.is_empty()).map(|s| (s, "credsStore")));
    let stored = match file.auths.iter().find(|(key, _)| named(key)) {
        None => Stored::None,
        Some((key, entry)) => entry_credentials(entry).with_context(|| format!("{path}: auths.{key:?}"))?,
    };
    Ok(Lookup { helper, stored })
}

fn entry_credentials(entry: &Entry) -> Result<Stored> {
    if !entry.identitytoken.is_empty() {
        return Ok(Stored::IdentityToken(entry.identitytoken.clone()));
    }
    if !entry.auth.is_empty() {
        let decoded = registry_api::base64_decode(&entry.auth).context("`auth` is not base64")?;
        let text = String::from_utf8(decoded).context("`auth` is not UTF-8")?;
        let (username, secret) = text.split_once(':').context("`auth` is not USER:PASSWORD")?;
        return Ok(Stored::Basic { username: username.to_owned(), secret: secret.to_owned() });
    }
    if !entry.username.is_empty() {
        return Ok(Stored::Basic { username: entry.username.clone(), secret: entry.password.clone() });
    }
    Ok(Stored::None)
}

/// A credential helper's answer to `get` (`{"Username":…,"Secret":…}`); `<token>` as the user
/// means the secret is an identity token.
pub fn helper_answer(json: &str) -> Result<Stored> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        #[serde(default)]
        username: String,
        #[serde(default)]
        secret: String,
    }
    let answer: Answer = serde_json::from_str(json).context("the credential helper's answer is not its JSON")?;
    Ok(match answer.username.as_str() {
        "<token>" => Stored::IdentityToken(answer.secret),
        _ => Stored::Basic { username: answer.username, secret: answer.secret },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_come_first_then_the_files_own_entry() {
        let auth = registry_api::base64_encode(b"ci:s3cret");
        let config = format!(
            r#"{{"auths":{{"ghcr.io":{{"auth":"{auth}"}},"https://index.docker.io/v1/":{{"identitytoken":"rt"}}}},
               "credHelpers":{{"127.0.0.1:5000":"xtask-missing"}},"credsStore":"desktop"}}"#
        );
        let ghcr = lookup(&config, "c.json", "ghcr.io").unwrap();
        assert_eq!(ghcr.helper, Some(("desktop".into(), "credsStore")));
        assert_eq!(ghcr.stored, Stored::Basic { username: "ci".into(), secret: "s3cret".into() });
        assert_eq!(ghcr.stored.to_string(), "user ci", "never the secret");
        let local = lookup(&config, "c.json", "127.0.0.1:5000").unwrap();
        assert_eq!(local.helper, Some(("xtask-missing".into(), "credHelpers")));
        assert_eq!(local.stored, Stored::None);
        assert_eq!(lookup(&config, "c.json", "docker.io").unwrap().stored, Stored::IdentityToken("rt".into()));
        let plain =
            lookup(r#"{"auths":{"http://reg.lan:5000/v2/":{"username":"u","password":"p"}}}"#, "c", "reg.lan:5000");
        assert_eq!(
            plain.unwrap(),
            Lookup { helper: None, stored: Stored::Basic { username: "u".into(), secret: "p".into() } }
        );
        assert_eq!(lookup("{}", "c", "ghcr.io").unwrap(), Lookup::default());
        assert!(lookup("not json", "c", "ghcr.io").unwrap_err().to_string().contains("c is not a docker config"));
    }

    #[test]
    fn a_helpers_answer_is_a_user_or_an_identity_token() {
        let basic = helper_answer(r#"{"ServerURL":"ghcr.io","Username":"ci","Secret":"x"}"#).unwrap();
        assert_eq!(basic, Stored::Basic { username: "ci".into(), secret: "x".into() });
        assert_eq!(
            helper_answer(r#"{"Username":"<token>","Secret":"rt"}"#).unwrap(),
            Stored::IdentityToken("rt".into())
        );
    }
}
