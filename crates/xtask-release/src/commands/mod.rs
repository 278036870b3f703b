//! Subcommands: each gathers its inputs, runs the steps it needs and prints the result.

pub mod audit;
pub mod audit_setup;
pub mod bench;
pub mod build;
pub mod bundle;
pub mod ci;
pub mod doctor;
pub mod import;
pub mod init;
pub mod init_workflows;
pub mod local;
pub mod merge;
pub mod notes;
pub mod pipeline;
pub mod plan;
pub mod rehearsal;
pub mod release;
pub mod retract;
pub mod scan;
pub mod summary;
pub mod test_lanes;
pub mod version;
