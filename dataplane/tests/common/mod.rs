//! What the binary's tests add to testkit: the path of the binary under test, and the JSON
//! summary it prints. Everything generic (root checks, lab topology, namespaces, child
//! processes, scratch directories) is testkit's, re-exported here so a test file has one `use`.

#![allow(dead_code, unused_imports)]

use std::process::Command;

pub(crate) use testkit::{
    ethtool_counter, kill, netns_exec, require_root, text, wait_ethtool_counter, Lab, Proc, TempDir,
};

/// The `dataplane` binary cargo built for these tests.
pub(crate) const DATAPLANE: &str = env!("CARGO_BIN_EXE_dataplane");

/// `dataplane args...` inside a [`Lab`] namespace.
pub(crate) trait LabDataplane {
    /// `ip netns exec NS dataplane args...` in the namespace of `role`.
    fn dataplane(&self, role: &str, args: &[&str]) -> Command;
}

impl LabDataplane for Lab {
    fn dataplane(&self, role: &str, args: &[&str]) -> Command {
        self.command(role, DATAPLANE, args)
    }
}

/// The last line of `output` that parses as a JSON object (the summary after the progress
/// lines).
pub(crate) fn last_json(output: &str) -> serde_json::Value {
    output
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok().filter(|v| v.is_object()))
        .unwrap_or_else(|| panic!("no JSON line in:\n{output}"))
}

/// The core for the device under test: the last one (core 0 is the generator's).
pub(crate) fn dut_core() -> String {
    testkit::last_core()
}
