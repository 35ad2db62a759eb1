//! Facts about a network interface, from sysfs and if_nametoindex.

use std::fs;

use crate::error::Error;

/// Kernel interface index, or an error telling the user how to list interfaces.
pub fn ifindex(name: &str) -> Result<u32, Error> {
    bpf::ifindex(name).map_err(|source| Error::NoSuchInterface { iface: name.to_string(), source })
}

fn read_sys(name: &str, file: &str) -> Option<String> {
    fs::read_to_string(format!("/sys/class/net/{name}/{file}")).ok().map(|s| s.trim().to_string())
}

/// The interface's MTU (from sysfs).
pub fn mtu(name: &str) -> Option<u32> {
    read_sys(name, "mtu")?.parse().ok()
}

/// The interface's MAC address (from sysfs).
pub fn mac(name: &str) -> Option<[u8; 6]> {
    let text = read_sys(name, "address")?;
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    Some(mac)
}

/// The interface's `tx_packets` counter (for veth it includes XDP frames its peer took).
pub fn tx_packets(name: &str) -> Option<u64> {
    read_sys(name, "statistics/tx_packets")?.parse().ok()
}

/// The memory node of the interface's device (`device/numa_node`); `None` for a virtual
/// device (veth has no `device` link) or where the firmware gives none (`-1`).
pub fn numa_node(name: &str) -> Option<u32> {
    read_sys(name, "device/numa_node")?.parse::<i32>().ok().and_then(|node| u32::try_from(node).ok())
}

/// Receive queues the kernel uses now (`real_num_rx_queues`).
pub fn rx_queue_count(name: &str) -> Option<u32> {
    let dir = fs::read_dir(format!("/sys/class/net/{name}/queues")).ok()?;
    Some(dir.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().starts_with("rx-")).count() as u32)
}

/// Checks that this process may create AF_XDP sockets and load BPF programs.
pub fn check_privileges() -> Result<(), Error> {
    const CAP_NET_ADMIN: u32 = 12;
    const CAP_NET_RAW: u32 = 13;
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_BPF: u32 = 39;
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    let has = |cap: u32| effective & (1 << cap) != 0;
    let mut missing = Vec::new();
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if !has(CAP_NET_RAW) {
        missing.push("CAP_NET_RAW");
    }
    if !has(CAP_BPF) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_BPF");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::MissingCapabilities { missing })
}

/// Lifts RLIMIT_MEMLOCK where allowed: kernels before 5.11 charge BPF maps to it, and UMEM
/// registration is charged to it without CAP_IPC_LOCK.
pub fn raise_memlock_limit() {
    let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: setrlimit reads a valid rlimit; failure leaves the limit as it was.
    unsafe {
        libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited);
    }
}
