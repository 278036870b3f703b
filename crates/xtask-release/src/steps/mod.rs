//! The release pipeline's steps. Their order, and which of them a release, a variant or a merge
//! runs, is decided in one place, `rules::pipeline`; `commands::pipeline` runs them. Each takes the
//! plan and what earlier steps returned, acts through `tools`, and returns a typed value the next
//! steps (and finally the release record) use.

pub mod audit;
pub mod build;
pub mod build_checks;
pub mod build_record;
pub mod build_reuse;
pub mod buildx_run;
pub mod bundle;
pub mod bundle_import;
pub mod dependency_graph;
pub mod merge;
pub mod notes;
pub mod parallel;
pub mod preflight;
pub mod provenance;
pub mod publish;
pub mod record;
pub mod retract;
pub mod scan;
pub mod scan_report;
pub mod sign;
pub mod smoke;
pub mod sources;
pub mod stored;
pub mod variant;
pub mod verdicts;
pub mod verify_kit;
pub mod vex;
pub mod vulndb;
