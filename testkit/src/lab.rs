//! The lab topology of `scripts/lab-topology.sh`, as a guard.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::netns::netns_exec;
use crate::process::text;

fn topology_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/lab-topology.sh")
}

/// generator namespace (`gen0`) <-> device under test (`dut0`, `dut1`) <-> sink (`sink0`),
/// made by `scripts/lab-topology.sh up` and removed by its `down` when dropped, also when the
/// test panics. Roles are `gen`, `dut` and `sink`.
pub struct Lab {
    /// The script's PREFIX: the namespaces are `PREFIX-gen`, `PREFIX-dut`, `PREFIX-sink`.
    pub prefix: String,
}

impl Lab {
    /// Brings a topology up; `tag` (one or two letters: the script takes 10 characters of
    /// prefix) goes into its name.
    pub fn up(tag: &str) -> Lab {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let prefix = format!("d{}{}{}", std::process::id() % 100_000, tag, NEXT.fetch_add(1, Ordering::Relaxed));
        let out = Command::new("bash")
            .arg(topology_script())
            .args(["up", &prefix])
            .output()
            .expect("running lab-topology.sh");
        assert!(out.status.success(), "lab-topology.sh up {prefix}: {}", text(&out.stderr));
        Lab { prefix }
    }

    /// The namespace of `role`.
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    /// `ip netns exec NS program args...` in the namespace of `role`.
    pub fn command(&self, role: &str, program: &str, args: &[&str]) -> Command {
        netns_exec(&self.ns(role), program, args)
    }

    /// Whether `iface` in the namespace of `role` has an XDP program attached.
    pub fn has_xdp(&self, role: &str, iface: &str) -> bool {
        let out = Command::new("ip")
            .args(["-n", &self.ns(role), "link", "show", "dev", iface])
            .output()
            .expect("running ip link show");
        let text = text(&out.stdout);
        text.contains(" xdp") || text.contains("prog/xdp")
    }

    /// Waits up to `timeout` until `iface` has (`attached`) or has not an XDP program; false
    /// if it did not come to that.
    pub fn wait_xdp(&self, role: &str, iface: &str, attached: bool, timeout: Duration) -> bool {
        crate::wait::wait_until(timeout, || self.has_xdp(role, iface) == attached)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(topology_script()).args(["down", &self.prefix]).output();
    }
}
