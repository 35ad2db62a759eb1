//! Shared by the root tests: network namespaces that remove themselves, a frame builder
//! that turns a [`PacketKey`] into bytes, and a sender (mausezahn, from netsniff-ng, run
//! inside the generator's namespace).

#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rules::key::{IP_FLAG_FIRSTFRAG, IP_FLAG_FRAG};
use rules::{Family, PacketKey};

/// True when the test may go on. Without root: skip with a message, unless CI is set (then
/// the test must run, so it fails).
pub(crate) fn require_root(test: &str) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2));
    if euid == Some("0") {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{test}: must run as root in CI");
    eprintln!("{test}: skipped (needs root: network namespaces, veth, tc)");
    false
}

/// Whether a program is on PATH; in CI its absence fails the test.
pub(crate) fn require_tool(test: &str, program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{test}: `{program}` is missing (scripts/ci-deps.sh installs it)");
        eprintln!("{test}: skipped (`{program}` is not installed)");
    }
    found
}

/// Runs a command, panicking with its stderr on failure (test setup only).
pub(crate) fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).stdin(Stdio::null()).output().expect("spawn");
    assert!(
        output.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A network namespace of this test, deleted (with its interfaces) on drop.
pub(crate) struct Netns {
    pub(crate) name: String,
}

impl Netns {
    /// A fresh namespace with a name unique to this process and call.
    pub(crate) fn new(tag: &str) -> Netns {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("rtc{}{tag}{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a program inside the namespace.
    pub(crate) fn exec(&self, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    pub(crate) fn sysctl(&self, key: &str, value: &str) {
        self.exec(&["sysctl", "-qw", &format!("{key}={value}")]);
    }

    /// The MAC of one of its interfaces.
    pub(crate) fn mac(&self, dev: &str) -> [u8; 6] {
        let out = self.exec(&["ip", "link", "show", dev]);
        let text = out.split("link/ether ").nth(1).and_then(|s| s.split_whitespace().next()).expect("link/ether");
        let mut mac = [0u8; 6];
        for (byte, part) in mac.iter_mut().zip(text.split(':')) {
            *byte = u8::from_str_radix(part, 16).expect("mac");
        }
        mac
    }

    /// Received packets of an interface (`ip -s link`).
    pub(crate) fn rx_packets(&self, dev: &str) -> u64 {
        let out = self.exec(&["ip", "-s", "link", "show", dev]);
        let mut lines = out.lines().skip_while(|l| !l.trim_start().starts_with("RX:"));
        lines.nth(1).and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse().ok()).expect("rx packets")
    }

    /// Packets the IPv4 and IPv6 stacks took in (`InReceives`, `Ip6InReceives`): frames that
    /// tc let pass.
    pub(crate) fn ip_in_receives(&self) -> (u64, u64) {
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

    /// Sends `frame` `count` times out of `dev` (mausezahn in raw mode: the bytes as given).
    pub(crate) fn send(&self, dev: &str, frame: &[u8], count: usize) {
        let hex: Vec<String> = frame.iter().map(|b| format!("{b:02x}")).collect();
        self.exec(&["mausezahn", dev, "-q", "-c", &count.to_string(), &hex.join(":")]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).stderr(Stdio::null()).status();
    }
}

/// Polls `done` until it holds or 10 s pass (an event wait, not a timed assertion).
pub(crate) fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The frame a [`PacketKey`] describes: Ethernet, then IPv4 (with `ipv4_option_words` words
/// of NOP options, so the IHL varies) or IPv6, then TCP, UDP, SCTP or a bare payload. A key
/// without an IP family becomes a frame of the local experimental ethertype 0x88b5.
/// Checksums: IPv4 header only (tc does not look at the others).
pub(crate) fn frame(key: &PacketKey, ipv4_option_words: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(128);
    f.extend_from_slice(&key.dst_mac);
    f.extend_from_slice(&key.src_mac);
    let l4 = l4_bytes(key);
    match key.family {
        Family::None => {
            f.extend_from_slice(&0x88b5u16.to_be_bytes());
            f.extend_from_slice(&[0u8; 46]);
            return f;
        }
        Family::V4 => {
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            let ihl = 5 + ipv4_option_words;
            let total = ihl * 4 + l4.len();
            let mut frag: u16 = 0;
            if key.ip_flags & IP_FLAG_FIRSTFRAG != 0 {
                frag = 0x2000; // MF, offset 0
            } else if key.ip_flags & IP_FLAG_FRAG != 0 {
                frag = 185; // a later fragment, offset 1480
            }
            let mut h = vec![0x40 | ihl as u8, key.ip_tos];
            h.extend_from_slice(&(total as u16).to_be_bytes());
            h.extend_from_slice(&[0x12, 0x34]);
            h.extend_from_slice(&frag.to_be_bytes());
            h.extend_from_slice(&[key.ip_ttl, key.ip_proto, 0, 0]);
            h.extend_from_slice(&(key.src_ip as u32).to_be_bytes());
            h.extend_from_slice(&(key.dst_ip as u32).to_be_bytes());
            h.resize(ihl * 4, 0x01); // NOP options (RFC 791 §3.1)
            let sum = checksum(&h);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            f.extend_from_slice(&h);
        }
        Family::V6 => {
            f.extend_from_slice(&0x86ddu16.to_be_bytes());
            let first = 0x6000_0000u32 | (u32::from(key.ip_tos) << 20);
            f.extend_from_slice(&first.to_be_bytes());
            f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            f.extend_from_slice(&[key.ip_proto, key.ip_ttl]);
            f.extend_from_slice(&key.src_ip.to_be_bytes());
            f.extend_from_slice(&key.dst_ip.to_be_bytes());
        }
    }
    f.extend_from_slice(&l4);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

fn l4_bytes(key: &PacketKey) -> Vec<u8> {
    let mut l4 = Vec::new();
    let ports = |l4: &mut Vec<u8>| {
        l4.extend_from_slice(&key.src_port.to_be_bytes());
        l4.extend_from_slice(&key.dst_port.to_be_bytes());
    };
    match key.ip_proto {
        6 => {
            ports(&mut l4);
            l4.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]); // seq, ack
            l4.extend_from_slice(&((5u16 << 12) | (key.tcp_flags & 0x0fff)).to_be_bytes());
            l4.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]); // window, checksum, urgent
        }
        17 => {
            ports(&mut l4);
            l4.extend_from_slice(&16u16.to_be_bytes());
            l4.extend_from_slice(&[0, 0]);
            l4.extend_from_slice(b"payload!");
        }
        132 => {
            ports(&mut l4);
            l4.extend_from_slice(&[0; 8]); // verification tag, checksum
        }
        _ => l4.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]), // an ICMP echo-ish body
    }
    l4
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
