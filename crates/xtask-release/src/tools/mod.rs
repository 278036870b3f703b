//! Thin wrappers over the programs the engine drives: each function runs one command with an
//! argument list (never through a shell) and turns its failure into an error that says what to do.
//! Every process the engine starts is started here; `steps/` and `commands/` call these functions.

pub mod archive_push;
pub mod bundle_archive;
pub mod cargo;
pub mod cargo_checks;
pub mod cosign;
pub mod debian;
pub mod docker;
pub mod doctor;
pub mod engine;
pub mod engine_dockerfile;
pub mod files;
pub mod flock;
pub mod git;
pub mod http;
pub mod install;
pub mod machine;
pub mod metadata;
pub mod oci;
pub mod oci_layout;
pub mod openssl;
pub mod process;
pub mod registry;
pub mod registry_auth;
pub mod registry_client;
pub mod registry_container;
pub mod retry;
pub mod rust_toolchain;
pub mod said;
pub mod secrets;
pub mod signals;
pub mod toolset;
pub mod transport;
pub mod trivy;
pub mod untag;
pub mod xtask;
