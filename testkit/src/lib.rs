//! Test support shared by the tests, benches and fuzz targets of every crate (a
//! dev-dependency only, never shipped):
//!
//! - privilege and tool checks: [`require_root`], [`require_tool`] (skip with a message,
//!   but fail under `CI`, where a skipped test would hide a failure);
//! - guards that clean up on drop, also when the test panics: [`Netns`] (a network
//!   namespace with its veths), [`Lab`] (the three-namespace topology of
//!   `scripts/lab-topology.sh`), [`TempDir`], [`Proc`] (a child process);
//! - commands run inside a namespace ([`netns_exec`]) and the counters tests read there
//!   ([`ethtool_counter`]);
//! - [`frames`]: frame builders, written byte by byte without the `wire` crate so they are an
//!   independent reference for the code that parses them;
//!
//! The properties the fuzz targets check are in the crate beside this one, `testkit-fuzz`
//! (testkit/fuzz): they need most of the workspace, which a crate's own tests should not
//! build to get a root check.
//!
//! ```no_run
//! #[test]
//! fn xdp_attaches() {
//!     if !testkit::require_root("xdp_attaches") {
//!         return;
//!     }
//!     let netns = testkit::Netns::with_veth_pair("xa");
//!     netns.run(|| { /* veth0 and veth1 are this thread's interfaces */ });
//! } // the namespace, its veths and whatever was attached to them are gone here
//! ```
//!
//! No unsafe code: setns(2) goes through rustix, signals through kill(1).

// Modules below lib.rs, each using only those further down this list (no import circles):
// lab uses netns, process and wait; netns uses process and wait; tempdir uses wait.
pub mod frames;
mod lab;
mod netns;
mod process;
mod require;
mod tempdir;
mod wait;

pub use lab::Lab;
pub use netns::{ethtool_counter, netns_exec, wait_ethtool_counter, Netns};
pub use process::{kill, run, text, Proc};
pub use require::{require_root, require_tool};
pub use tempdir::TempDir;
pub use wait::{last_core, unique_name, wait_until};
