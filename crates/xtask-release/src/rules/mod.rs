//! Pure decisions: text and values in, values or errors out. No processes, files, clock or
//! environment here (callers pass them in), so every rule is unit-tested without a daemon.

pub mod adoption;
pub mod audit;
pub mod audit_report;
#[cfg(test)]
mod audit_tests;
pub mod build_checks;
pub mod build_inputs;
pub mod config;
pub mod config_scan;
pub mod context;
pub mod credentials;
pub mod digest;
pub mod dockerfile;
pub mod fanout;
pub mod ignorefile;
pub mod install;
pub mod labels;
pub mod manifest;
pub mod notes;
pub mod overrides;
pub mod plan;
pub mod plan_text;
pub mod policy;
pub mod publish;
pub mod recipe;
pub mod reference;
pub mod release_branch;
pub mod retract;
pub mod retry;
pub mod sbom;
pub mod schema;
pub mod signing;
pub mod smoke;
pub mod tag_deletion;
pub mod tags;
pub mod toolchain;
pub mod toolset;
pub mod transport;
pub mod verdicts;
pub mod version;
pub mod versioning;
pub mod vulndb;
pub mod workflows;
