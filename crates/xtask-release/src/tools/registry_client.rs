//! The one registry client: every existence check, read back, push, tag move and deletion of the
//! pipeline is a sequence of registry API requests sent here, each through curl (`tools::http`),
//! each answer read exactly (`rules::registry_api`: the status and the spec's error code).
//!
//! Each request is retried on its own through the one retry loop (`tools::retry::retry`: backoff
//! with jitter, a `Retry-After` honoured, the run's budget), not the operation around it: a push of six
//! platforms is some 25 requests, and through a registry failing one request in six an operation
//! retried whole would rarely get through. A blob upload (`POST`, then the `PUT` with its bytes)
//! is retried as one, from a new upload session: a `PUT` repeated on a session that took part of
//! its body would append to it.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use xshell::Shell;

use crate::rules::registry_api::{self as api, Absence, Judged, Parts, Response};
use crate::rules::retry::{self as rules_retry, Attempted, Failure, Transient};
use crate::rules::transport::{self, Transports};
use crate::tools::http::{self, Body, Exchange, Request};
use crate::tools::{registry_auth, retry};

/// The manifest media types the client accepts: indexes and image manifests, OCI's and docker's.
const ACCEPT: &str =
    "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, \
                      application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// A manifest as the registry serves it: its exact bytes, media type and digest.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: String,
}

/// The client for one registry (`HOST[:PORT]` as references name it).
pub struct Client<'a> {
    sh: &'a Shell,
    registry: String,
    /// `http://` or `https://` and the API's host.
    base: String,
}

impl<'a> Client<'a> {
    pub fn new(sh: &'a Shell, transports: &Transports, registry: &str) -> Client<'a> {
        let scheme = if transports.plain_http(registry) { "http" } else { "https" };
        Client { sh, registry: registry.to_owned(), base: format!("{scheme}://{}", api::api_host(registry)) }
    }

    /// The client for `reference`'s registry, and the reference's parts.
    pub fn of<'r>(sh: &'a Shell, transports: &Transports, reference: &'r str) -> Result<(Client<'a>, Parts<'r>)> {
        let parts = api::parts(reference).with_context(|| format!("{reference:?} names no registry and repository"))?;
        Ok((Client::new(sh, transports, parts.registry), parts))
    }

    fn url(&self, repository: &str, tail: &str) -> String {
        format!("{}/v2/{repository}/{tail}", self.base)
    }

    /// The manifest `reference` (a tag or a digest) names; `None` only when the registry says it
    /// does not exist (404 with `MANIFEST_UNKNOWN` or `NAME_UNKNOWN`).
    pub fn manifest(&self, repository: &str, reference: &str) -> Result<Option<Manifest>> {
        let url = self.url(repository, &format!("manifests/{reference}"));
        let Some(response) =
            self.send("GET", &url, repository, &[("Accept", ACCEPT)], &Body::None, Absence::Manifest)?
        else {
            return Ok(None);
        };
        let digest = crate::rules::digest::sha256(&response.body);
        if reference.starts_with("sha256:") && digest != reference {
            bail!("{}/{repository}@{reference} was served with digest {digest}: refusing it", self.registry);
        }
        let media_type = match response.header("content-type").map(|t| t.split(';').next().unwrap_or(t).trim()) {
            Some(t) if !t.is_empty() && t != "application/json" => t.to_owned(),
            _ => api::media_type_of(&response.body).map_err(|problem| {
                anyhow::anyhow!(
                    "{}/{repository}:{reference} was served with no media type, and {problem}: check that {} is an \
                     OCI registry",
                    self.registry,
                    self.registry
                )
            })?,
        };
        Ok(Some(Manifest { bytes: response.body, media_type, digest }))
    }

    /// The OCI referrers API's index of what refers to `digest` (`GET /v2/<name>/referrers/<digest>`);
    /// `None` where the registry does not offer the API (any 404).
    pub fn referrers(&self, repository: &str, digest: &str) -> Result<Option<Manifest>> {
        let url = self.url(repository, &format!("referrers/{digest}"));
        let accept = [("Accept", "application/vnd.oci.image.index.v1+json")];
        let Some(response) = self.send("GET", &url, repository, &accept, &Body::None, Absence::BlobHead)? else {
            return Ok(None);
        };
        let digest = crate::rules::digest::sha256(&response.body);
        Ok(Some(Manifest {
            bytes: response.body,
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            digest,
        }))
    }

    /// Writes `manifest` under `reference` (its digest, or a tag).
    pub fn put_manifest(&self, repository: &str, reference: &str, manifest: &Manifest) -> Result<()> {
        let url = self.url(repository, &format!("manifests/{reference}"));
        let headers = [("Content-Type", manifest.media_type.as_str())];
        self.send("PUT", &url, repository, &headers, &Body::Bytes(&manifest.bytes), Absence::Never)?;
        Ok(())
    }

    /// Deletes the manifest `digest`; `false` when the registry says it is not there (also after a
    /// retried request whose first attempt deleted it).
    pub fn delete_manifest(&self, repository: &str, digest: &str) -> Result<bool> {
        let url = self.url(repository, &format!("manifests/{digest}"));
        Ok(self.send("DELETE", &url, repository, &[], &Body::None, Absence::Manifest)?.is_some())
    }

    pub fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool> {
        let url = self.url(repository, &format!("blobs/{digest}"));
        Ok(self.send("HEAD", &url, repository, &[], &Body::None, Absence::BlobHead)?.is_some())
    }

    /// A blob's bytes (an image config), checked against its digest.
    pub fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>> {
        let url = self.url(repository, &format!("blobs/{digest}"));
        let response = self.send("GET", &url, repository, &[], &Body::None, Absence::Never)?.unwrap_or_default();
        if crate::rules::digest::sha256(&response.body) != digest {
            bail!("{}/{repository} served blob {digest} with other bytes: refusing it", self.registry);
        }
        Ok(response.body)
    }

    /// Uploads the blob `digest` from `file` (`POST` a session, `PUT` the bytes), retried as one.
    pub fn upload_blob(&self, repository: &str, digest: &str, file: &Path) -> Result<()> {
        let operation = format!("upload of blob {digest} to {repository}");
        retry::retry(&operation, &self.registry, || {
            let start = self.url(repository, "blobs/uploads/");
            let session = self.send("POST", &start, repository, &[], &Body::Bytes(&[]), Absence::Never)?;
            let location = session.as_ref().and_then(|s| s.header("location")).map(str::to_owned);
            let location = location.with_context(|| format!("{operation}: the registry gave no upload Location"))?;
            let request = Request {
                method: "PUT",
                url: api::upload_url(&self.base, &location, digest),
                headers: vec![("Content-Type", "application/octet-stream".into())],
                authorization: self.authorization(repository, "pull,push")?,
                body: Body::File(file),
                registry: &self.registry,
            };
            let put = format!("PUT {}", api::shown(&request.url));
            match self.attempt(&put, &request)? {
                Attempted::Done(response) => match api::judge(&response, Absence::Never) {
                    Judged::Done => Ok(Attempted::Done(())),
                    _ if self.blob_exists(repository, digest)? => Ok(Attempted::Done(())),
                    _ => Err(self.stopped(&put, &response, Absence::Never)),
                },
                Attempted::Failed(transient) => Ok(Attempted::Failed(transient)),
            }
        })
    }

    /// One request, authenticated, each transient failure retried; `None` when the answer is
    /// "absent" as `absence` allows. Any other failure stops, naming the answer.
    fn send(
        &self,
        method: &str,
        url: &str,
        repository: &str,
        headers: &[(&'static str, &str)],
        body: &Body<'_>,
        absence: Absence,
    ) -> Result<Option<Response>> {
        let actions = match method {
            "GET" | "HEAD" => "pull",
            "DELETE" => "*",
            _ => "pull,push",
        };
        let operation = format!("{method} {}", api::shown(url.strip_prefix(&self.base).unwrap_or(url)));
        let mut renewed = false;
        loop {
            let authorization = self.authorization(repository, actions)?;
            let bearer = authorization.as_deref().is_some_and(|a| a.starts_with("Bearer "));
            let request = Request {
                method,
                url: url.to_owned(),
                headers: headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
                authorization,
                body: match body {
                    Body::Bytes(bytes) => Body::Bytes(bytes),
                    Body::File(file) => Body::File(file),
                    _ => Body::None,
                },
                registry: &self.registry,
            };
            let response = self.retried(&operation, &request)?;
            if response.status == 401 && bearer && !renewed {
                // A token can expire during a long run: fetched again, once.
                registry_auth::remember_token(&self.registry, repository, actions, None);
                renewed = true;
                continue;
            }
            return match api::judge(&response, absence) {
                Judged::Done => Ok(Some(response)),
                Judged::Absent => Ok(None),
                _ => Err(self.stopped(&operation, &response, absence)),
            };
        }
    }

    /// Sends `request` until it gets an answer that is not transient, through the one retry loop.
    fn retried(&self, operation: &str, request: &Request<'_>) -> Result<Response> {
        retry::retry(operation, &self.registry, || self.attempt(operation, request))
    }

    /// One attempt: an answer, or a transient failure to retry; a failure to connect that retrying
    /// cannot fix (a TLS failure, a name that does not resolve) is an error.
    fn attempt(&self, operation: &str, request: &Request<'_>) -> Result<Attempted<Response>> {
        match http::exchange(self.sh, request)? {
            Exchange::Answered(response) => match rules_retry::classify_status(response.status) {
                Failure::Transient(status) => Ok(Attempted::Failed(Transient {
                    status,
                    retry_after: response
                        .header("retry-after")
                        .and_then(|v| rules_retry::retry_after(&format!("Retry-After: {v}"))),
                    last: format!("the last answer: {}", api::describe(&response)),
                })),
                _ => Ok(Attempted::Done(response)),
            },
            Exchange::Failed { exit_code, said } => match rules_retry::classify_curl(exit_code) {
                Failure::Transient(status) => Ok(Attempted::Failed(Transient {
                    status,
                    retry_after: None,
                    last: format!("the last answer: {said}"),
                })),
                failure => {
                    let hint = match failure {
                        _ if exit_code == 35 => transport::http_where_https_expected(&self.registry),
                        Failure::Permanent(status) if status.starts_with("TLS") => format!(
                            "the registry's TLS certificate is not trusted: put its CA in /etc/docker/certs.d/{}/ca.crt \
                             (or SSL_CERT_FILE)",
                            self.registry
                        ),
                        _ => "is the registry up and reachable from here?".to_owned(),
                    };
                    bail!("{operation} at {} failed: {said}\n{hint}", self.registry)
                }
            },
        }
    }

    /// The error for an answer that stops the step.
    fn stopped(&self, operation: &str, response: &Response, absence: Absence) -> anyhow::Error {
        let hint = match (response.status, absence) {
            (401, _) => {
                "the registry wants credentials it was not given or did not accept: set \
                         REGISTRY_USERNAME/REGISTRY_PASSWORD (README: Credentials) or `docker login`"
            }
            (_, Absence::Manifest) => {
                "only a 404 with MANIFEST_UNKNOWN or NAME_UNKNOWN says it does not exist, and \
                                       this is not one: stopped rather than guess (a proxy in front of the registry, \
                                       or credentials that may not read this repository?)"
            }
            (403, _) => "the registry refuses it: check what these credentials may do in this repository",
            _ => "the registry refused it (not retried: retrying cannot fix it)",
        };
        anyhow!("{operation} at {} answered {}: {hint}", self.registry, api::describe(response))
    }

    /// The `Authorization` for `repository` and `actions`, as the registry's challenge asks.
    fn authorization(&self, repository: &str, actions: &str) -> Result<Option<String>> {
        let challenge = match registry_auth::challenge(&self.registry) {
            Some(known) => known,
            None => {
                let pinged = self.ping()?;
                registry_auth::remember_challenge(&self.registry, pinged.clone());
                pinged
            }
        };
        let Some(challenge) = challenge else { return Ok(None) };
        let stored = registry_auth::credentials(self.sh, &self.registry)?;
        match challenge.scheme.as_str() {
            "basic" => Ok(registry_auth::basic(&stored)),
            "bearer" => {
                if let Some(token) = registry_auth::token(&self.registry, repository, actions) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let token = self.fetch_token(&challenge, &stored, repository, actions)?;
                registry_auth::remember_token(&self.registry, repository, actions, Some(token.clone()));
                Ok(Some(format!("Bearer {token}")))
            }
            other => bail!("{} asks for {other} authentication, which the xtask does not speak", self.registry),
        }
    }

    /// `GET /v2/`: the registry's challenge, `None` when it asks for none.
    fn ping(&self) -> Result<Option<api::Challenge>> {
        let request = Request {
            method: "GET",
            url: format!("{}/v2/", self.base),
            headers: Vec::new(),
            authorization: None,
            body: Body::None,
            registry: &self.registry,
        };
        let response = self.retried("GET /v2/", &request)?;
        match response.status {
            200..=299 => Ok(None),
            401 => match response.header("www-authenticate").and_then(api::challenge) {
                Some(challenge) => Ok(Some(challenge)),
                None => Err(self.stopped("GET /v2/", &response, Absence::Never)),
            },
            _ => Err(self.stopped("GET /v2/", &response, Absence::Never)),
        }
    }

    /// A bearer token from the challenge's realm: with the Basic credentials (or none), or an
    /// identity token exchanged as OAuth2's refresh token.
    fn fetch_token(
        &self,
        challenge: &api::Challenge,
        stored: &crate::rules::docker_config::Stored,
        repository: &str,
        actions: &str,
    ) -> Result<String> {
        let scope = format!("repository:{repository}:{actions}");
        let (url, body, authorization) = match stored {
            crate::rules::docker_config::Stored::IdentityToken(refresh) => {
                let mut form =
                    format!("grant_type=refresh_token&client_id=xtask-release&scope={}", api::encode(&scope));
                if let Some(service) = &challenge.service {
                    form.push_str(&format!("&service={}", api::encode(service)));
                }
                form.push_str(&format!("&refresh_token={}", api::encode(refresh)));
                (challenge.realm.clone(), Body::SecretForm(form), None)
            }
            other => (api::token_url(challenge, repository, actions), Body::None, registry_auth::basic(other)),
        };
        let method = if matches!(body, Body::SecretForm(_)) { "POST" } else { "GET" };
        let request = Request { method, url, headers: Vec::new(), authorization, body, registry: &self.registry };
        let operation = format!("{method} {} (a token for {scope})", api::shown(&challenge.realm));
        let response = self.retried(&operation, &request)?;
        match (response.status, api::token(&response.body)) {
            (200..=299, Some(token)) => Ok(token),
            _ => Err(self.stopped(&operation, &response, Absence::Never)),
        }
    }
}
