//! Each tool's official installation page, which every fix doctor prints and every tool
//! `doctor --install` cannot install points at (part of `rules::install`). Plain addresses that
//! import nothing, so `tools::doctor`, `tools::install` and `tools::trivy` all use them from here.

pub const GIT: &str = "https://git-scm.com/downloads";
pub const DOCKER: &str = "https://docs.docker.com/engine/install/";
pub const DOCKER_NON_ROOT: &str = "https://docs.docker.com/engine/install/linux-postinstall/";
pub const CONTAINERD_STORE: &str = "https://docs.docker.com/engine/storage/containerd/";
pub const BUILDX: &str = "https://docs.docker.com/build/concepts/overview/#install-buildx";
pub const BINFMT: &str = "https://docs.docker.com/build/building/multi-platform/#install-qemu-manually";
pub const TRIVY: &str = "https://trivy.dev/latest/getting-started/installation/";
pub const CURL: &str = "https://curl.se/download.html";
pub const COSIGN: &str = "https://docs.sigstore.dev/cosign/system_config/installation/";
