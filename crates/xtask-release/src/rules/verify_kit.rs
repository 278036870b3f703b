//! The verification kit of a release, pure: what an image's consumer runs to check that an image
//! is this release's, written beside the release record (`verify/`) and summed up in the release's
//! summary. The `cosign verify` and `cosign verify-attestation` commands are built from the very
//! options the engine verified with (`rules::signing::verify_options`, `http_options`), so what
//! passed at release passes for the consumer; a Kyverno `ClusterPolicy` and a sigstore
//! policy-controller `ClusterImagePolicy` require the same key or identity and attestation types
//! for the image's repositories. The YAML is written by hand, every string a JSON (so YAML)
//! double-quoted scalar.

use crate::rules::signing::{self, Identity, Mode, GITHUB_OIDC_ISSUER};

/// The public key's file name inside the kit (key mode), which the commands name.
pub const PUBLIC_KEY: &str = "cosign.pub";
/// The kit's files: the commands (one per line, comments `#`), and the two policies.
pub const COMMANDS: &str = "commands.sh";
pub const KYVERNO: &str = "kyverno-cluster-policy.yaml";
pub const POLICY_CONTROLLER: &str = "cluster-image-policy.yaml";

/// How the release was signed and where each image is.
pub struct Kit<'a> {
    pub mode: &'a Mode,
    /// The public key's PEM text (key mode).
    pub public_key: &'a str,
    pub tlog_upload: bool,
    /// cosign 3's Sigstore bundles (OCI referrers), rather than cosign 2's `.sig`/`.att` tags.
    pub bundles: bool,
    pub images: Vec<KitImage>,
}

/// One image in one repository: its index, its platform manifests and their attestation types.
pub struct KitImage {
    pub name: String,
    pub repository: String,
    /// The repository's registry speaks plain HTTP (cosign then needs its flags for that).
    pub plain_http: bool,
    pub index_digest: String,
    /// (platform, digest)
    pub manifests: Vec<(String, String)>,
    /// cosign's `--type` of each attestation on every manifest.
    pub attestation_types: Vec<String>,
}

/// The in-toto predicate type cosign writes for its `--type` (the policies name these).
pub fn predicate_type(kind: &str) -> String {
    match kind {
        "cyclonedx" => "https://cyclonedx.org/bom".into(),
        "slsaprovenance" => "https://slsa.dev/provenance/v0.2".into(),
        "openvex" => "https://openvex.dev/ns".into(),
        "spdxjson" | "spdx" => "https://spdx.dev/Document".into(),
        other => other.into(),
    }
}

/// `arg` as one shell word: bare when it is plain, else single-quoted.
pub fn shell_word(arg: &str) -> String {
    let plain = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

impl Kit<'_> {
    /// Every command, each with the comment above it: the index's signature, then each attestation
    /// type on each platform manifest, per image and repository. Run from the kit's directory.
    pub fn commands(&self) -> Vec<(String, Vec<String>)> {
        let options = signing::verify_options(self.mode, self.tlog_upload, PUBLIC_KEY);
        let mut commands = Vec::new();
        for image in &self.images {
            let mut verify = vec!["cosign".to_owned(), "verify".to_owned()];
            verify.extend(options.iter().cloned().chain(signing::http_options(image.plain_http, true)));
            verify.push(format!("{}@{}", image.repository, image.index_digest));
            let what = format!(
                "{} in {}: the index and, signed with it, every platform manifest",
                image.name, image.repository
            );
            commands.push((what, verify));
            for (platform, digest) in &image.manifests {
                for kind in &image.attestation_types {
                    let mut attest = vec!["cosign".to_owned(), "verify-attestation".to_owned()];
                    attest.extend(options.iter().cloned().chain(signing::http_options(image.plain_http, false)));
                    attest.extend(["--type".to_owned(), kind.clone(), format!("{}@{digest}", image.repository)]);
                    commands.push((format!("{} {platform}: its {kind} attestation", image.name), attest));
                }
            }
        }
        commands
    }

    /// The commands file: why its flags are what they are, then each command on one line.
    pub fn commands_file(&self) -> String {
        let mut out = String::from("# Verifies this release's images as the release did (cosign).\n");
        out += &self.why().iter().map(|line| format!("# {line}\n")).collect::<String>();
        for (what, argv) in self.commands() {
            out += &format!("\n# {what}\n{}\n", argv.iter().map(|a| shell_word(a)).collect::<Vec<_>>().join(" "));
        }
        out
    }

    /// Why the commands carry their flags.
    fn why(&self) -> Vec<String> {
        let mut why = Vec::new();
        match self.mode {
            Mode::Key => why.push(format!("Signed with a key: {PUBLIC_KEY}, beside this file, verifies it.")),
            Mode::Keyless(_) => why.push(format!(
                "Signed keyless: only a certificate of the release workflow's identity, issued by {GITHUB_OIDC_ISSUER}, verifies."
            )),
        }
        if !self.tlog_upload {
            why.push(
                "--insecure-ignore-tlog=true: the release was signed offline (tlog-upload = false), so no \
                 transparency-log entry exists to check; the key alone vouches for it."
                    .into(),
            );
        }
        if self.images.iter().any(|i| i.plain_http) {
            why.push("--allow-http-registry / --allow-insecure-registry: that registry speaks plain HTTP.".into());
        }
        why.push(if self.bundles {
            "cosign 3 wrote Sigstore bundles as OCI referrers: verify with cosign 3.".into()
        } else {
            "cosign 2 wrote the signatures and attestations under .sig/.att tags.".into()
        });
        why
    }

    /// The keyless identity the policies require: a tag run's workflow at any tag (a future
    /// release verifies too), an edge run's at its branch; `(regexp?, value)`.
    fn policy_identity(&self) -> Option<(bool, String)> {
        let Mode::Keyless(identity) = self.mode else { return None };
        Some(match identity {
            Identity::Run { workflow_ref, .. } => match workflow_ref.split_once("@refs/tags/") {
                Some((workflow, _)) => {
                    (true, format!("^{}@refs/tags/.+$", regex_literal(&format!("https://github.com/{workflow}"))))
                }
                None => (false, format!("https://github.com/{workflow_ref}")),
            },
            Identity::Releases(signers) => (true, signing::identity_regexp(signers)),
        })
    }

    /// The Kyverno `ClusterPolicy`: every image of the repositories must carry the release's
    /// signature and each attestation type, verified by the same key or identity.
    pub fn kyverno(&self) -> String {
        let mut references: Vec<String> = Vec::new();
        for image in &self.images {
            for pattern in [format!("{}:*", image.repository), format!("{}@*", image.repository)] {
                if !references.contains(&pattern) {
                    references.push(pattern);
                }
            }
        }
        let attestor = self.kyverno_attestor("          ");
        let mut out = format!(
            "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata:\n  name: {}\nspec:\n  background: false\n  \
             webhookTimeoutSeconds: 30\n  rules:\n    - name: release-signature-and-attestations\n      match:\n        \
             any:\n          - resources:\n              kinds: [\"Pod\"]\n      verifyImages:\n        - imageReferences:\n",
            q(&format!("verify-{}", self.name()))
        );
        out += &references.iter().map(|r| format!("            - {}\n", q(r))).collect::<String>();
        out += "          failureAction: Enforce\n          mutateDigest: true\n          verifyDigest: true\n          required: true\n";
        out += &format!("          attestors:\n{attestor}");
        out += "          attestations:\n";
        for kind in self.attestation_types() {
            out += &format!("            - type: {}\n              attestors:\n", q(&predicate_type(&kind)));
            out += &self.kyverno_attestor("                ");
        }
        out
    }

    /// One Kyverno attestor set, indented by `pad`.
    fn kyverno_attestor(&self, pad: &str) -> String {
        let mut out = format!("{pad}- entries:\n");
        match self.policy_identity() {
            None => {
                out += &format!("{pad}    - keys:\n{pad}        publicKeys: |-\n");
                out += &self.public_key.trim().lines().map(|l| format!("{pad}          {l}\n")).collect::<String>();
                let ignore = if self.tlog_upload { "false" } else { "true" };
                out += &format!("{pad}        rekor:\n{pad}          ignoreTlog: {ignore}\n");
                out += &format!("{pad}        ctlog:\n{pad}          ignoreSCT: true\n");
            }
            Some((regexp, subject)) => {
                let field = if regexp { "subjectRegExp" } else { "subject" };
                out += &format!("{pad}    - keyless:\n{pad}        {field}: {}\n", q(&subject));
                out += &format!("{pad}        issuer: {}\n", q(GITHUB_OIDC_ISSUER));
                out += &format!("{pad}        rekor:\n{pad}          url: \"https://rekor.sigstore.dev\"\n");
            }
        }
        out
    }

    /// The policy-controller `ClusterImagePolicy` for the same repositories, key or identity and
    /// attestation types.
    pub fn policy_controller(&self) -> String {
        let mut out = format!(
            "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: {}\nspec:\n  images:\n",
            q(&format!("verify-{}", self.name()))
        );
        let mut globs: Vec<String> = self.images.iter().map(|i| format!("{}**", i.repository)).collect();
        globs.dedup();
        out += &globs.iter().map(|g| format!("    - glob: {}\n", q(g))).collect::<String>();
        out += "  authorities:\n    - name: release\n";
        match self.policy_identity() {
            None => {
                out += "      key:\n        data: |-\n";
                out += &self.public_key.trim().lines().map(|l| format!("          {l}\n")).collect::<String>();
                out += "        hashAlgorithm: sha256\n";
            }
            Some((regexp, subject)) => {
                let field = if regexp { "subjectRegExp" } else { "subject" };
                out += "      keyless:\n        url: \"https://fulcio.sigstore.dev\"\n        identities:\n";
                out +=
                    &format!("          - issuer: {}\n            {field}: {}\n", q(GITHUB_OIDC_ISSUER), q(&subject));
            }
        }
        if self.tlog_upload {
            out += "      ctlog:\n        url: \"https://rekor.sigstore.dev\"\n";
        }
        if self.bundles {
            out += "      signatureFormat: bundle\n";
        }
        out += "      attestations:\n";
        for kind in self.attestation_types() {
            out += &format!("        - name: {}\n          predicateType: {}\n", q(&kind), q(&predicate_type(&kind)));
        }
        out
    }

    /// Every attestation type of any image, each once, in order.
    pub fn attestation_types(&self) -> Vec<String> {
        let mut kinds: Vec<String> = Vec::new();
        for kind in self.images.iter().flat_map(|i| &i.attestation_types) {
            if !kinds.contains(kind) {
                kinds.push(kind.clone());
            }
        }
        kinds
    }

    /// The policies' name: the images' names.
    fn name(&self) -> String {
        let mut names: Vec<&str> = self.images.iter().map(|i| i.name.as_str()).collect();
        names.dedup();
        names.join("-").to_lowercase().replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-")
    }

    /// The section the release's summary gets: where the kit is, and the index commands.
    pub fn markdown(&self, dir: &str) -> String {
        let mut out = format!("\n### Verifying the images\n\nThe verification kit is in `{dir}`: `{COMMANDS}`");
        out += &format!(", `{KYVERNO}` and `{POLICY_CONTROLLER}`.\n\n");
        out += &self.why().iter().map(|l| format!("- {l}\n")).collect::<String>();
        out += "\n```sh\n";
        for (_, argv) in self.commands().iter().filter(|(_, a)| a[1] == "verify") {
            out += &format!("{}\n", argv.iter().map(|a| shell_word(a)).collect::<Vec<_>>().join(" "));
        }
        out += "```\n";
        out
    }
}

/// `text` as a YAML double-quoted scalar (JSON's string syntax, which YAML reads the same).
fn q(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// `text` matched literally in an RE2 expression.
fn regex_literal(text: &str) -> String {
    text.chars().flat_map(|c| if r"\.+*?()|[]{}^$".contains(c) { vec!['\\', c] } else { vec![c] }).collect()
}

#[cfg(test)]
#[path = "verify_kit_tests.rs"]
mod tests;
