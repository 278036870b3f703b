//! openssl, thin: the self-signed certificate a throwaway TLS registry on the loopback serves.

use std::path::Path;

use anyhow::Result;
use xshell::{cmd, Shell};

/// A new RSA key (`key`) and a certificate for `127.0.0.1` and `localhost` signed by it (`cert`),
/// valid one day. openssl's chatter is hidden.
pub fn loopback_certificate(sh: &Shell, key: &Path, cert: &Path) -> Result<()> {
    Ok(cmd!(sh, "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout {key} -out {cert}")
        .quiet()
        .ignore_stderr()
        .run()?)
}
