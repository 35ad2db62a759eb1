//! NUMA placement of a UMEM: the frames should live on the memory node of the NIC that DMAs
//! into them (and of the cores that poll it), or every frame crosses the interconnect twice.
//!
//! The area is bound with `mbind(2)` right after `mmap` and before any page is touched (the
//! kernel places pages when they are first faulted in, which for a UMEM is when
//! `XDP_UMEM_REG` pins them). `MPOL_PREFERRED` rather than `MPOL_BIND`: a node short of
//! memory then costs speed, not the run. No libnuma: two system calls through libc.

use std::io;
use std::path::Path;

/// `MPOL_PREFERRED` (include/uapi/linux/mempolicy.h).
const MPOL_PREFERRED: libc::c_int = 1;
/// `get_mempolicy` flags: return a node id, for the page at `addr`.
const MPOL_F_NODE: libc::c_ulong = 1 << 0;
const MPOL_F_ADDR: libc::c_ulong = 1 << 1;

/// Nodes a node mask can name here: plenty for any machine of this kind (the kernel's
/// default `CONFIG_NODES_SHIFT` allows 1024 only on large servers; a mask of 1024 bits
/// covers those too).
const MAX_NODES: usize = 1024;

/// Prefers node `node` for the pages of `[ptr, ptr + len)`, which must be a whole mapping (or
/// page-aligned part of one) that no one has touched yet.
pub(crate) fn prefer_node(ptr: *mut u8, len: usize, node: u32) -> io::Result<()> {
    let node = node as usize;
    if node >= MAX_NODES {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("NUMA node {node} is past {MAX_NODES}")));
    }
    let mut mask = [0 as libc::c_ulong; MAX_NODES / libc::c_ulong::BITS as usize];
    let bits = libc::c_ulong::BITS as usize;
    mask[node / bits] |= 1 << (node % bits);
    // SAFETY: mbind changes only the memory policy of the range, which the caller owns (a
    // fresh anonymous mapping); the mask is a live array of `MAX_NODES` bits, and `maxnode`
    // says so (+1: the kernel reads `maxnode - 1` bits).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mbind,
            ptr as libc::c_ulong,
            len as libc::c_ulong,
            MPOL_PREFERRED as libc::c_ulong,
            mask.as_ptr(),
            (MAX_NODES + 1) as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The node the page holding `ptr` is on (the page must have been touched).
pub fn node_of_address(ptr: *const u8) -> io::Result<u32> {
    let mut node: libc::c_int = -1;
    // SAFETY: get_mempolicy with MPOL_F_NODE | MPOL_F_ADDR writes one int (the node of the
    // page at `ptr`) to `node`, a live local; a null mask with maxnode 0 asks for no mask.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_mempolicy,
            &mut node as *mut libc::c_int,
            std::ptr::null_mut::<libc::c_ulong>(),
            0 as libc::c_ulong,
            ptr as libc::c_ulong,
            MPOL_F_NODE | MPOL_F_ADDR,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(node).map_err(|_| io::Error::other(format!("get_mempolicy returned node {node}")))
}

/// Memory nodes of this machine (`/sys/devices/system/node/node*`); 1 where the kernel has
/// no NUMA support.
pub fn node_count() -> usize {
    node_count_in(Path::new("/sys/devices/system/node"))
}

fn node_count_in(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 1 };
    let nodes = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().and_then(|n| n.strip_prefix("node")).is_some_and(is_number))
        .count();
    nodes.max(1)
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// The CPUs of node `node` (its `cpulist`, e.g. `0-3,8-11`), or `None` if there is no such
/// node.
pub fn node_cpus(node: u32) -> Option<Vec<usize>> {
    node_cpus_in(Path::new("/sys/devices/system/node"), node)
}

fn node_cpus_in(dir: &Path, node: u32) -> Option<Vec<usize>> {
    let text = std::fs::read_to_string(dir.join(format!("node{node}/cpulist"))).ok()?;
    parse_cpulist(text.trim())
}

/// The kernel's cpulist format (`lib/bitmap-str.c`): comma-separated CPUs and ranges, empty
/// for none. `None` if it is not that.
pub fn parse_cpulist(text: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
            None => {
                let cpu: usize = part.parse().ok()?;
                (cpu, cpu)
            }
        };
        // A cpulist names CPUs of this machine: a range past 64k is not one.
        if first > last || last > 65_535 {
            return None;
        }
        cpus.extend(first..=last);
    }
    Some(cpus)
}

/// `cpus` in the cpulist format, ranges folded: `[0, 1, 2, 5]` is `0-2,5`.
pub fn format_cpulist(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { sorted[i].to_string() } else { format!("{}-{}", sorted[i], sorted[j]) });
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpulists_as_the_kernel_writes_them() {
        assert_eq!(parse_cpulist("0-3,8-11"), Some(vec![0, 1, 2, 3, 8, 9, 10, 11]));
        assert_eq!(parse_cpulist("1"), Some(vec![1]));
        assert_eq!(parse_cpulist(""), Some(vec![]));
        assert_eq!(parse_cpulist("3-1"), None);
        assert_eq!(parse_cpulist("a"), None);
        assert_eq!(parse_cpulist("0-18446744073709551615"), None);
        assert_eq!(format_cpulist(&[5, 0, 1, 2, 2]), "0-2,5");
        assert_eq!(parse_cpulist(&format_cpulist(&[0, 1, 2, 8, 10, 11])), Some(vec![0, 1, 2, 8, 10, 11]));
    }

    #[test]
    fn nodes_and_their_cpus_from_a_sysfs_tree() {
        let dir = std::env::temp_dir().join(format!("umem-numa-{}", std::process::id()));
        for (node, cpus) in [(0, "0-1\n"), (1, "2-3\n")] {
            std::fs::create_dir_all(dir.join(format!("node{node}"))).unwrap();
            std::fs::write(dir.join(format!("node{node}/cpulist")), cpus).unwrap();
        }
        std::fs::create_dir_all(dir.join("power")).unwrap();
        assert_eq!(node_count_in(&dir), 2);
        assert_eq!(node_cpus_in(&dir, 1), Some(vec![2, 3]));
        assert_eq!(node_cpus_in(&dir, 2), None);
        assert_eq!(node_count_in(&dir.join("absent")), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn this_machine_has_a_node_zero_with_cpus() {
        if !Path::new("/sys/devices/system/node/node0").exists() {
            eprintln!("skipped: this kernel shows no NUMA nodes in sysfs");
            return;
        }
        assert!(node_count() >= 1);
        assert!(!node_cpus(0).unwrap().is_empty());
    }
}
