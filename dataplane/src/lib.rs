//! The `dataplane` binary's library half: the subcommands that are more than argument
//! parsing, and the output formats. The engine is in the `engine` crate, the tools in
//! `traffic`, `lab` and `emit`.
//!
//! - [`error`]: what a subcommand fails with, as it is printed.
//! - [`run`]: ports and workers set up, stats printed, rules reloaded.
//! - [`inspect`]: one capture's frames walked and judged, as text or JSON lines.
//! - [`rules_cmd`]: `dataplane rules check|compile|classify`.
//! - [`stats_json`]: the engine's counters as `run`'s stats JSON.

pub mod error;
pub mod inspect;
pub mod rules_cmd;
pub mod run;
pub mod stats_json;
