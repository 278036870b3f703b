//! Which engine a variant ran on, for its record: the docker engine's name, id and version, and the
//! buildx builder (`--builder`, else the current one). A merge lists them; it does not trust them.

use serde::{Deserialize, Serialize};
use xshell::Shell;

use crate::tools::said;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineIdentity {
    /// `docker info`'s Name (the host) and ID.
    pub name: String,
    pub id: String,
    /// The engine's version (`docker version`'s Server.Version).
    pub version: String,
    /// Its os/arch, the platform it builds natively.
    pub platform: String,
    /// The buildx builder the build used, `None` for the current one.
    pub builder: Option<String>,
}

/// Best effort: a field the engine does not report stays empty.
pub fn identity(sh: &Shell, builder: Option<&str>) -> EngineIdentity {
    let read = |format: &str| said::read(sh, "docker", &["info", "--format", format]).unwrap_or_default();
    let version_format = "{{.Server.Version}}";
    EngineIdentity {
        name: read("{{.Name}}"),
        id: read("{{.ID}}"),
        version: said::read(sh, "docker", &["version", "--format", version_format]).unwrap_or_default(),
        platform: format!(
            "{}/{}",
            read("{{.OSType}}"),
            read("{{.Architecture}}").replace("x86_64", "amd64").replace("aarch64", "arm64")
        ),
        builder: builder.map(str::to_owned),
    }
}
