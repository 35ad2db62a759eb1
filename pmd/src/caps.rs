//! Giving up privileges once setup is done.
//!
//! Opening AF_XDP sockets, loading and attaching XDP programs and pinning UMEM need
//! CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF (CAP_SYS_ADMIN on old kernels) and CAP_IPC_LOCK.
//! After that nothing does: receiving and sending on a bound socket (`recvfrom`/`sendto`
//! wakeups), reading `XDP_STATISTICS`, closing the bpf_link at the end, pinning a thread to
//! a core, and re-reading a rule file on SIGHUP all work with no capability at all. So
//! [`drop_all`] empties every set: effective, permitted, inheritable, ambient and the
//! bounding set (so not even an `execve` of a setuid or file-capability binary could bring
//! them back), and sets `PR_SET_NO_NEW_PRIVS`.
//!
//! Capabilities belong to a thread (capset(2) changes only the caller's): call this from
//! the thread that spawns the workers, before it spawns them; threads inherit the sets of
//! the thread that creates them.
//!
//! What root without capabilities still is: uid 0, so files owned by root stay readable
//! and writable by their mode bits; CAP_DAC_OVERRIDE is gone, so a rule file of another
//! user with mode 0600 can no longer be read (a reload says so and keeps the old rules).

use std::io;

use crate::error::Error;

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Capability names by number (include/uapi/linux/capability.h), for messages.
const NAMES: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The calling thread's capability sets, as 64-bit masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    /// What the thread can use now.
    pub effective: u64,
    /// What the thread may make effective.
    pub permitted: u64,
    /// What an `execve` may keep.
    pub inheritable: u64,
}

impl CapSets {
    /// The calling thread's sets (capget(2)).
    pub fn current() -> io::Result<CapSets> {
        let mut header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
        let mut data = [CapData::default(); 2];
        // SAFETY: capget writes one header and the two data words version 3 defines, into
        // memory we own for the call.
        let ret = unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut CapHeader, data.as_mut_ptr()) };
        if ret != 0 {
            return Err(io::Error::last_os_error());
        }
        let join = |low: u32, high: u32| u64::from(low) | u64::from(high) << 32;
        Ok(CapSets {
            effective: join(data[0].effective, data[1].effective),
            permitted: join(data[0].permitted, data[1].permitted),
            inheritable: join(data[0].inheritable, data[1].inheritable),
        })
    }

    /// No capability in any of the three sets.
    pub fn is_empty(&self) -> bool {
        self.effective == 0 && self.permitted == 0 && self.inheritable == 0
    }
}

/// The names of the capabilities in `mask` (`cap_N` for numbers this table lacks).
pub fn names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(|bit| NAMES.get(bit).map_or_else(|| format!("cap_{bit}"), |name| (*name).to_string()))
        .collect()
}

/// What [`drop_all`] gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The permitted set before (every capability the thread could have used).
    pub had: u64,
    /// Whether the bounding set was emptied too (needs CAP_SETPCAP, which root has).
    pub bounding_cleared: bool,
}

impl Dropped {
    /// One line for the start-up messages.
    pub fn describe(&self) -> String {
        let count = self.had.count_ones();
        // The ones setup needed, by name; a full root set would be a paragraph.
        const SETUP: u64 = 1 << 12 | 1 << 13 | 1 << 14 | 1 << 21 | 1 << 38 | 1 << 39;
        let what = if count == 0 {
            "it held none".to_string()
        } else if count <= 6 {
            names(self.had).join(", ")
        } else {
            format!("{count}, among them {}", names(self.had & SETUP).join(", "))
        };
        format!(
            "capabilities dropped ({what}{}): the workers and SIGHUP reloads run with none",
            if self.bounding_cleared || count == 0 { "" } else { "; bounding set kept: no CAP_SETPCAP" }
        )
    }
}

/// Empties the calling thread's capability sets (and the bounding and ambient sets), and
/// sets no-new-privileges; checks the result. Threads created afterwards inherit this.
pub fn drop_all() -> Result<Dropped, Error> {
    let before = CapSets::current().map_err(|source| Error::Capabilities { call: "capget", source })?;
    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes below.
    let mut bounding_cleared = before.effective & (1 << 8) != 0;
    if bounding_cleared {
        for cap in 0..64 {
            // SAFETY: prctl with integer arguments only.
            let present = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
            if present < 0 {
                break; // past the kernel's last capability (EINVAL)
            }
            // SAFETY: as above.
            if present == 1 && unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
                bounding_cleared = false;
            }
        }
    }
    // SAFETY: prctl with integer arguments only. Ambient capabilities need Linux 4.3;
    // older kernels answer EINVAL and have none to clear.
    unsafe {
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0);
    }
    // SAFETY: as above.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(Error::Capabilities { call: "prctl(PR_SET_NO_NEW_PRIVS)", source: io::Error::last_os_error() });
    }
    let header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let data = [CapData::default(); 2];
    // SAFETY: capset reads one header and the two data words version 3 defines.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if ret != 0 {
        return Err(Error::Capabilities { call: "capset", source: io::Error::last_os_error() });
    }
    let after = CapSets::current().map_err(|source| Error::Capabilities { call: "capget", source })?;
    if !after.is_empty() {
        return Err(Error::CapabilitiesKept { names: names(after.permitted) });
    }
    Ok(Dropped { had: before.permitted, bounding_cleared })
}

/// CAP_NET_ADMIN's number (include/uapi/linux/capability.h): attach programs, bind sockets.
pub const CAP_NET_ADMIN: u32 = 12;
/// CAP_BPF's number (include/uapi/linux/capability.h): load programs, create maps.
pub const CAP_BPF: u32 = 39;

/// Leaves the calling thread with only the capabilities `keep` (by number) in its
/// effective and permitted sets and none inheritable (capset(2)); the other threads keep
/// theirs. For checking that something works with exactly the capabilities an error
/// message names: run it on a scratch thread after this.
pub fn keep_only(keep: &[u32]) -> io::Result<()> {
    let mut mask = 0u64;
    for &cap in keep {
        if cap >= 64 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("no capability number {cap} (0..64)")));
        }
        mask |= 1 << cap;
    }
    let word = |i: u32| (mask >> (32 * i)) as u32;
    let header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let data = [0, 1].map(|i| CapData { effective: word(i), permitted: word(i), inheritable: 0 });
    // SAFETY: capset reads one header and the two data words version 3 defines, from memory
    // we own for the call.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_uapi_numbers() {
        assert_eq!(names(1 << 12 | 1 << 13 | 1 << 39), ["cap_net_admin", "cap_net_raw", "cap_bpf"]);
        assert_eq!(names(1 << 50), ["cap_50"]);
        assert!(names(0).is_empty());
    }

    #[test]
    fn drop_all_leaves_the_thread_with_nothing() {
        // On a scratch thread: capabilities are per thread, the rest of the tests keep theirs.
        let (dropped, after, bounding) = std::thread::spawn(|| {
            let dropped = drop_all().unwrap();
            // SAFETY: prctl with integer arguments only.
            let bounding = unsafe { libc::prctl(libc::PR_CAPBSET_READ, 12, 0, 0, 0) };
            (dropped, CapSets::current().unwrap(), bounding)
        })
        .join()
        .unwrap();
        assert!(after.is_empty(), "{after:?}");
        if dropped.had & (1 << 8) != 0 {
            assert!(dropped.bounding_cleared);
            assert_eq!(bounding, 0, "CAP_NET_ADMIN is out of the bounding set");
            assert!(dropped.describe().contains("capabilities dropped"), "{}", dropped.describe());
        }
        // This thread still has what it had.
        let here = CapSets::current().unwrap();
        assert_eq!(here.permitted, dropped.had);
    }
}
