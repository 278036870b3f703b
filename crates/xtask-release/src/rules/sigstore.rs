//! The Sigstore services a run that signs with the transparency log on (`tlog-upload = true`) will
//! reach, pure: Rekor, where every signature is recorded, and the TUF repository cosign reads
//! Sigstore's keys and service URLs from. Preflight asks each once, before anything is built or
//! pushed, so that an offline machine fails in seconds and not at `sign`, after the versioned tags
//! are pushed. The URLs are cosign's defaults; `XTASK_REKOR_URL` and `XTASK_TUF_URL` (else cosign's
//! own `TUF_MIRROR`) change what preflight asks — for a private Sigstore deployment, or a test — not
//! where cosign signs.

/// Rekor, the public transparency log cosign uploads to by default.
pub const REKOR_URL: &str = "https://rekor.sigstore.dev";
/// The TUF repository cosign reads the public Sigstore trust root and signing config from.
pub const TUF_URL: &str = "https://tuf-repo-cdn.sigstore.dev";

/// A service signing will reach: what it is, the variable that overrides its URL, and the URL
/// preflight asks (one that answers 200 when the service is up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: &'static str,
    pub variable: &'static str,
    pub probe: String,
}

/// The services, their URLs from the environment (`var`) where set.
pub fn services(var: impl Fn(&str) -> Option<String>) -> Vec<Service> {
    let set = |name: &str| var(name).map(|v| v.trim().trim_end_matches('/').to_owned()).filter(|v| !v.is_empty());
    let rekor = set("XTASK_REKOR_URL").unwrap_or_else(|| REKOR_URL.to_owned());
    let tuf = set("XTASK_TUF_URL").or_else(|| set("TUF_MIRROR")).unwrap_or_else(|| TUF_URL.to_owned());
    vec![
        Service {
            name: "the transparency log (Rekor)",
            variable: "XTASK_REKOR_URL",
            probe: format!("{rekor}/api/v1/log"),
        },
        Service {
            name: "the Sigstore TUF repository",
            variable: "XTASK_TUF_URL",
            probe: format!("{tuf}/timestamp.json"),
        },
    ]
}

/// The refusal when some services did not answer (`(service, why)` each); `key`: the run signs with
/// a key, which may sign offline instead.
pub fn unreachable(problems: &[(Service, String)], key: bool) -> String {
    let list: Vec<String> = problems.iter().map(|(s, why)| format!("{} at {}: {why}", s.name, s.probe)).collect();
    let fix = if key {
        "Restore access to them, or sign offline: set tlog-upload = false under [workspace.metadata.xtask.signing] \
         in the root Cargo.toml (the public key verifies such signatures whenever, with --insecure-ignore-tlog)"
    } else {
        "Restore access to them: keyless signatures cannot do without the transparency log"
    };
    format!(
        "workspace.metadata.xtask.signing.tlog-upload is true, so signing will need the transparency log and TUF, \
         but {} of them did not answer (checked before anything is built or pushed):\n  {}\n{fix}",
        problems.len(),
        list.join("\n  ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_services_are_cosigns_defaults_unless_overridden() {
        let defaults = services(|_| None);
        assert_eq!(defaults[0].probe, "https://rekor.sigstore.dev/api/v1/log");
        assert_eq!(defaults[1].probe, "https://tuf-repo-cdn.sigstore.dev/timestamp.json");
        let env = |name: &str| match name {
            "XTASK_REKOR_URL" => Some("http://127.0.0.1:9/".to_owned()),
            "TUF_MIRROR" => Some("https://tuf.internal".to_owned()),
            _ => None,
        };
        let probes: Vec<String> = services(env).into_iter().map(|s| s.probe).collect();
        assert_eq!(probes, ["http://127.0.0.1:9/api/v1/log", "https://tuf.internal/timestamp.json"]);
        let ours = |name: &str| (name != "XTASK_REKOR_URL").then(|| format!("http://{name}"));
        assert_eq!(services(ours)[1].probe, "http://XTASK_TUF_URL/timestamp.json", "XTASK_TUF_URL before TUF_MIRROR");
        assert_eq!(services(|_| Some(" ".into()))[0].probe, "https://rekor.sigstore.dev/api/v1/log", "blank: unset");
    }

    #[test]
    fn the_refusal_names_each_url_and_the_fix() {
        let down = services(|_| None).into_iter().map(|s| (s, "connection refused".to_owned())).collect::<Vec<_>>();
        let key = unreachable(&down, true);
        assert!(key.contains("tlog-upload is true") && key.contains("2 of them did not answer"), "{key}");
        assert!(key
            .contains("\n  the transparency log (Rekor) at https://rekor.sigstore.dev/api/v1/log: connection refused"));
        assert!(key.contains("set tlog-upload = false under [workspace.metadata.xtask.signing]"), "{key}");
        let keyless = unreachable(&down[..1], false);
        assert!(keyless.contains("1 of them") && !keyless.contains("tlog-upload = false"), "{keyless}");
    }
}
