//! Network namespaces of a test's own, and what tests run and read inside them.
//!
//! A veth is made inside a namespace (or between two of them), never in the root namespace:
//! deleting the namespace deletes its veths, their peers elsewhere and every program
//! attached to them, so the namespace guard is the veth guard too, and names cannot clash
//! with the host's or another test's.

use std::fs::File;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use crate::process::{run, text};

/// `ip netns exec NS program args...`, to be run by the caller.
pub fn netns_exec(ns: &str, program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, program]).args(args);
    cmd
}

/// One `ethtool -S` counter of `dev` in namespace `ns` (veth counts XDP verdicts per
/// receive queue there). Panics if `dev` has no such counter.
pub fn ethtool_counter(ns: &str, dev: &str, name: &str) -> u64 {
    let out = netns_exec(ns, "ethtool", &["-S", dev]).output().expect("running ethtool");
    let stats = text(&out.stdout);
    stats
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in ethtool -S {dev}:\n{stats}"))
        .parse()
        .unwrap_or_else(|e| panic!("ethtool -S {dev}: {name} is not a number: {e}"))
}

/// [`ethtool_counter`] polled until it reaches `at_least` or `timeout` passes; the last value.
pub fn wait_ethtool_counter(ns: &str, dev: &str, name: &str, at_least: u64, timeout: Duration) -> u64 {
    let start = Instant::now();
    loop {
        let value = ethtool_counter(ns, dev, name);
        if value >= at_least || start.elapsed() > timeout {
            return value;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A network namespace with a unique name, loopback up, deleted on drop (also when the test
/// panics) with every interface in it.
pub struct Netns {
    name: String,
}

impl Netns {
    /// A fresh namespace; `tag` (a few letters) goes into its name to say whose it is.
    pub fn new(tag: &str) -> Netns {
        let netns = Netns { name: crate::wait::unique_name(tag) };
        run("ip", &["netns", "add", &netns.name]);
        netns.ip(&["link", "set", "lo", "up"]);
        netns
    }

    /// A fresh namespace holding a veth pair `veth0` <-> `veth1`, both up.
    pub fn with_veth_pair(tag: &str) -> Netns {
        let netns = Netns::new(tag);
        netns.add_veth_pair("veth0", "veth1", 1);
        netns
    }

    /// Adds a veth pair `a` <-> `b` inside the namespace, both up; with `queues` above 1,
    /// each end has that many transmit and receive queues (else the kernel's default, one).
    pub fn add_veth_pair(&self, a: &str, b: &str, queues: usize) {
        let queues = queues.to_string();
        let per_end: &[&str] =
            if queues == "1" { &[] } else { &["numtxqueues", queues.as_str(), "numrxqueues", queues.as_str()] };
        let mut args = vec!["link", "add", a];
        args.extend(per_end);
        args.extend(["type", "veth", "peer", "name", b]);
        args.extend(per_end);
        self.ip(&args);
        self.ip(&["link", "set", a, "up"]);
        self.ip(&["link", "set", b, "up"]);
    }

    /// The namespace's name (for `ip -n NAME`, `ip netns exec NAME`, `tc -n NAME`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME args...`: panics if it fails; returns its stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Runs `args` (program first) inside the namespace to the end: panics if it fails;
    /// returns its stdout.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["netns", "exec", self.name.as_str()];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// `program args...` inside the namespace, to be run by the caller.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        netns_exec(&self.name, program, args)
    }

    /// Sets a sysctl of this namespace (`net.*` keys are per namespace; the host's stay).
    pub fn sysctl(&self, key: &str, value: &str) {
        self.exec(&["sysctl", "-qw", &format!("{key}={value}")]);
    }

    /// Turns IPv6 off in the namespace, so router solicitations and MLD reports do not mix
    /// with a test's frames.
    pub fn disable_ipv6(&self) {
        for scope in ["all", "default"] {
            self.sysctl(&format!("net.ipv6.conf.{scope}.disable_ipv6"), "1");
        }
    }

    /// The MAC address of `dev`.
    pub fn mac(&self, dev: &str) -> [u8; 6] {
        let out = self.ip(&["link", "show", dev]);
        let text = out.split("link/ether ").nth(1).and_then(|s| s.split_whitespace().next()).expect("link/ether");
        let mut mac = [0u8; 6];
        for (byte, part) in mac.iter_mut().zip(text.split(':')) {
            *byte = u8::from_str_radix(part, 16).expect("a MAC of hex bytes");
        }
        mac
    }

    /// Packets `dev` received (`ip -s link`).
    pub fn rx_packets(&self, dev: &str) -> u64 {
        let out = self.ip(&["-s", "link", "show", dev]);
        let mut lines = out.lines().skip_while(|l| !l.trim_start().starts_with("RX:"));
        lines.nth(1).and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse().ok()).expect("rx packets")
    }

    /// Packets the namespace's IPv4 and IPv6 stacks took in (`InReceives`, `Ip6InReceives`):
    /// frames that tc or XDP let pass.
    pub fn ip_in_receives(&self) -> (u64, u64) {
        let snmp = self.exec(&["cat", "/proc/net/snmp"]);
        let mut ip = snmp.lines().filter(|l| l.starts_with("Ip:"));
        let (names, values) = (ip.next().unwrap_or(""), ip.next().unwrap_or(""));
        let at = names.split_whitespace().position(|n| n == "InReceives").expect("InReceives");
        let v4 = values.split_whitespace().nth(at).and_then(|n| n.parse().ok()).expect("InReceives value");
        let snmp6 = self.exec(&["cat", "/proc/net/snmp6"]);
        let v6 = snmp6
            .lines()
            .find(|l| l.starts_with("Ip6InReceives"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        (v4, v6)
    }

    /// Sends `frame` `count` times out of `dev`, the bytes as given (mausezahn, from
    /// netsniff-ng, in raw mode; see [`crate::require::require_tool`]).
    pub fn send(&self, dev: &str, frame: &[u8], count: usize) {
        let hex: Vec<String> = frame.iter().map(|b| format!("{b:02x}")).collect();
        self.exec(&["mausezahn", dev, "-q", "-c", &count.to_string(), &hex.join(":")]);
    }

    /// One `ethtool -S` counter of `dev`.
    pub fn ethtool_counter(&self, dev: &str, name: &str) -> u64 {
        ethtool_counter(&self.name, dev, name)
    }

    /// [`Netns::ethtool_counter`] polled until it reaches `at_least` or `timeout` passes.
    pub fn wait_ethtool_counter(&self, dev: &str, name: &str, at_least: u64, timeout: Duration) -> u64 {
        wait_ethtool_counter(&self.name, dev, name, at_least, timeout)
    }

    /// `ip -d link show dev DEV`: the details, attached XDP programs included.
    pub fn link_details(&self, dev: &str) -> String {
        self.ip(&["-d", "link", "show", "dev", dev])
    }

    /// Whether `dev` has an XDP program attached (native or generic).
    pub fn has_xdp(&self, dev: &str) -> bool {
        let details = self.link_details(dev);
        details.contains(" xdp") || details.contains("prog/xdp")
    }

    /// Polls [`Netns::link_details`] until `check` accepts it (up to 2 s), returning the last
    /// output. Detaching is not always visible at once: a concurrent test's fork can briefly
    /// hold a copy of a link fd until its exec closes it.
    pub fn wait_for_link_details(&self, dev: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let details = self.link_details(dev);
            if check(&details) || Instant::now() > deadline {
                return details;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `f` on a thread that has entered this namespace, so interface names, ifindexes
    /// and attach calls refer to its interfaces. Only that thread moves; panics propagate.
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let path = format!("/run/netns/{}", self.name);
        let handle = File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    move_into_link_name_space(handle.as_fd(), Some(LinkNameSpaceType::Network))
                        .unwrap_or_else(|e| panic!("setns({path}): {e}"));
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).stderr(Stdio::null()).status();
    }
}
