//! The bpf(2) system call and the parts of `union bpf_attr` (include/uapi/linux/bpf.h)
//! that this crate uses.
//!
//! Each command gets its own `#[repr(C)]` struct holding the prefix of the union that the
//! command reads. We pass `size_of` that struct as the attr size: the kernel copies that
//! many bytes and treats the rest of its (larger, version-dependent) union as zero, which
//! is what "unset" means for every field we leave out. Padding is spelled out as fields
//! so no byte the kernel sees is uninitialised, and pointers travel as `u64`
//! (`__aligned_u64`) regardless of the host's pointer width.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

pub(crate) const BPF_MAP_CREATE: u32 = 0;
pub(crate) const BPF_MAP_LOOKUP_ELEM: u32 = 1;
pub(crate) const BPF_MAP_UPDATE_ELEM: u32 = 2;
pub(crate) const BPF_MAP_DELETE_ELEM: u32 = 3;
pub(crate) const BPF_MAP_GET_NEXT_KEY: u32 = 4;
pub(crate) const BPF_PROG_LOAD: u32 = 5;
pub(crate) const BPF_OBJ_PIN: u32 = 6;
pub(crate) const BPF_OBJ_GET: u32 = 7;
pub(crate) const BPF_PROG_TEST_RUN: u32 = 10;
pub(crate) const BPF_OBJ_GET_INFO_BY_FD: u32 = 15;
pub(crate) const BPF_PROG_QUERY: u32 = 16;
pub(crate) const BPF_LINK_CREATE: u32 = 28;
pub(crate) const BPF_LINK_UPDATE: u32 = 29;

/// `enum bpf_attach_type` values we attach with.
pub(crate) const BPF_XDP: u32 = 37;
pub(crate) const BPF_TCX_INGRESS: u32 = 46;
pub(crate) const BPF_TCX_EGRESS: u32 = 47;

/// `BPF_ANY` for map updates: create or replace.
pub(crate) const BPF_ANY: u64 = 0;

/// `BPF_OBJ_NAME_LEN`: object names are at most 15 bytes plus a NUL.
pub(crate) const OBJ_NAME_LEN: usize = 16;

/// Filesystem magic of bpffs, as `statfs(2)` reports it.
pub(crate) const BPF_FS_MAGIC: u32 = 0xcafe_4a11;

/// `BPF_MAP_CREATE`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct MapCreateAttr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; OBJ_NAME_LEN],
}

/// `BPF_MAP_*_ELEM` and `BPF_MAP_GET_NEXT_KEY` (`value` doubles as `next_key`).
#[repr(C)]
#[derive(Default)]
pub(crate) struct MapElemAttr {
    pub map_fd: u32,
    pub _pad: u32,
    pub key: u64,
    pub value: u64,
    pub flags: u64,
}

/// `BPF_PROG_LOAD`, up to `expected_attach_type` (the BTF and func-info fields that follow
/// are for clang-built objects).
#[repr(C)]
#[derive(Default)]
pub(crate) struct ProgLoadAttr {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: u64,
    pub license: u64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: u64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; OBJ_NAME_LEN],
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
}

/// `BPF_OBJ_PIN` and `BPF_OBJ_GET`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct ObjAttr {
    pub pathname: u64,
    pub bpf_fd: u32,
    pub file_flags: u32,
}

/// `BPF_PROG_TEST_RUN` (the `test` member).
#[repr(C)]
#[derive(Default)]
pub(crate) struct TestRunAttr {
    pub prog_fd: u32,
    pub retval: u32,
    pub data_size_in: u32,
    pub data_size_out: u32,
    pub data_in: u64,
    pub data_out: u64,
    pub repeat: u32,
    pub duration: u32,
    pub ctx_size_in: u32,
    pub ctx_size_out: u32,
    pub ctx_in: u64,
    pub ctx_out: u64,
    pub flags: u32,
    pub cpu: u32,
    pub batch_size: u32,
    pub _pad: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD` (the `info` member).
#[repr(C)]
#[derive(Default)]
pub(crate) struct InfoAttr {
    pub bpf_fd: u32,
    pub info_len: u32,
    pub info: u64,
}

/// `BPF_PROG_QUERY` (the `query` member, as extended for tcx in Linux 6.6).
#[repr(C)]
#[derive(Default)]
pub(crate) struct QueryAttr {
    /// A cgroup fd, or for tcx the ifindex.
    pub target: u32,
    pub attach_type: u32,
    pub query_flags: u32,
    pub attach_flags: u32,
    pub prog_ids: u64,
    /// In: capacity of `prog_ids`; out: number of programs attached.
    pub prog_cnt: u32,
    pub _pad: u32,
    pub prog_attach_flags: u64,
    pub link_ids: u64,
    pub link_attach_flags: u64,
    pub revision: u64,
}

/// `BPF_LINK_CREATE` (the `link_create` member) with its `tcx` variant, which is the only
/// one after the common part that we fill.
#[repr(C)]
#[derive(Default)]
pub(crate) struct LinkCreateAttr {
    pub prog_fd: u32,
    /// `target_fd` or `target_ifindex` depending on the attach type.
    pub target: u32,
    pub attach_type: u32,
    pub flags: u32,
    /// tcx: a program or link to insert relative to (with `BPF_F_BEFORE`/`AFTER` flags).
    pub tcx_relative_fd: u32,
    pub _pad: u32,
    /// tcx: fail unless the attachment list is at this revision (0 = don't care).
    pub tcx_expected_revision: u64,
}

/// `BPF_LINK_UPDATE` (the `link_update` member): swap the program of a link in place.
#[repr(C)]
#[derive(Default)]
pub(crate) struct LinkUpdateAttr {
    pub link_fd: u32,
    pub new_prog_fd: u32,
    /// `BPF_F_REPLACE`: only if the link still runs `old_prog_fd`.
    pub flags: u32,
    pub old_prog_fd: u32,
}

/// `BPF_F_REPLACE` for [`LinkUpdateAttr::flags`].
pub(crate) const BPF_F_REPLACE: u32 = 1 << 2;

/// The head of `struct bpf_link_info`, with the `xdp` member of its union (8-aligned,
/// since other members hold `__aligned_u64`s).
#[repr(C)]
#[derive(Default)]
pub(crate) struct LinkInfo {
    pub link_type: u32,
    pub id: u32,
    pub prog_id: u32,
    pub _pad: u32,
    /// `xdp.ifindex` (and the first word of the other members).
    pub ifindex: u32,
    pub _pad2: u32,
}

/// `enum bpf_link_type`: `BPF_LINK_TYPE_XDP`.
pub(crate) const BPF_LINK_TYPE_XDP: u32 = 6;

/// The head of `struct bpf_prog_info`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct ProgInfo {
    pub prog_type: u32,
    pub id: u32,
    pub tag: [u8; 8],
}

/// The head of `struct bpf_map_info`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct MapInfo {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub name: [u8; OBJ_NAME_LEN],
}

/// Marker for structs that are a valid prefix of `union bpf_attr` for some command:
/// `#[repr(C)]`, plain integers only, no implicit padding.
///
/// # Safety
/// Implementors must be exactly such structs, so that handing the kernel a pointer to one
/// and its size reads only initialised bytes laid out as the UAPI expects.
pub(crate) unsafe trait BpfAttr {}

// SAFETY: every struct below is #[repr(C)] with u32/u64/byte-array fields ordered and
// explicitly padded to match the UAPI layout.
unsafe impl BpfAttr for MapCreateAttr {}
// SAFETY: as above.
unsafe impl BpfAttr for MapElemAttr {}
// SAFETY: as above.
unsafe impl BpfAttr for ProgLoadAttr {}
// SAFETY: as above.
unsafe impl BpfAttr for ObjAttr {}
// SAFETY: as above.
unsafe impl BpfAttr for TestRunAttr {}
// SAFETY: as above.
unsafe impl BpfAttr for InfoAttr {}
// SAFETY: as above.
unsafe impl BpfAttr for QueryAttr {}
// SAFETY: as above.
unsafe impl BpfAttr for LinkCreateAttr {}
// SAFETY: as above.
unsafe impl BpfAttr for LinkUpdateAttr {}

/// Calls `bpf(cmd, attr, sizeof(*attr))`. Returns the syscall's non-negative result.
///
/// # Safety
/// Every address stored in `attr` (as a `u64`) must point to memory valid for the kernel
/// to read or write, for the length the matching size field gives, until this returns;
/// and any fd stored in it must be open.
pub(crate) unsafe fn bpf<A: BpfAttr>(cmd: u32, attr: &mut A) -> io::Result<i64> {
    // SAFETY: `attr` is a live, exclusive reference to an initialised BpfAttr of the size we
    // pass; the caller vouches for the addresses inside it.
    let ret = unsafe {
        libc::syscall(libc::SYS_bpf, cmd as libc::c_long, attr as *mut A, std::mem::size_of::<A>() as libc::c_long)
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as i64)
    }
}

/// Like [`bpf`] for commands that return a new file descriptor.
///
/// # Safety
/// As for [`bpf`].
pub(crate) unsafe fn bpf_fd<A: BpfAttr>(cmd: u32, attr: &mut A) -> io::Result<OwnedFd> {
    // SAFETY: forwarded contract.
    let fd = unsafe { bpf(cmd, attr) }?;
    // SAFETY: for the fd-returning commands the kernel returns a fresh descriptor (opened
    // O_CLOEXEC, so `ip` child processes do not inherit links) that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A pointer as the kernel's `__aligned_u64`.
pub(crate) fn addr<T: ?Sized>(ptr: *const T) -> u64 {
    ptr as *const u8 as usize as u64
}

/// Copies `name` into a fixed, NUL-terminated object-name field. The kernel accepts only
/// `[A-Za-z0-9_.]` and at most 15 bytes, and rejects anything else with a bare EINVAL, so
/// other characters become `_` and longer names are cut (as libbpf does).
pub(crate) fn object_name(name: &str) -> [u8; OBJ_NAME_LEN] {
    let mut out = [0u8; OBJ_NAME_LEN];
    for (slot, byte) in out[..OBJ_NAME_LEN - 1].iter_mut().zip(name.bytes()) {
        *slot = if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'.' { byte } else { b'_' };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    // Offsets from `pahole` on the UAPI union; a drift here would silently misconfigure
    // the kernel.
    #[test]
    fn attr_layouts_match_uapi() {
        assert_eq!(offset_of!(MapCreateAttr, map_name), 28);
        assert_eq!(size_of::<MapCreateAttr>(), 44);
        assert_eq!(offset_of!(MapElemAttr, key), 8);
        assert_eq!(offset_of!(MapElemAttr, flags), 24);
        assert_eq!(offset_of!(ProgLoadAttr, log_buf), 32);
        assert_eq!(offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(size_of::<ProgLoadAttr>(), 72);
        assert_eq!(size_of::<ObjAttr>(), 16);
        assert_eq!(offset_of!(TestRunAttr, repeat), 32);
        assert_eq!(offset_of!(TestRunAttr, ctx_in), 48);
        assert_eq!(offset_of!(TestRunAttr, flags), 64);
        assert_eq!(offset_of!(TestRunAttr, batch_size), 72);
        assert_eq!(offset_of!(QueryAttr, prog_cnt), 24);
        assert_eq!(offset_of!(QueryAttr, revision), 56);
        assert_eq!(offset_of!(LinkCreateAttr, tcx_relative_fd), 16);
        assert_eq!(offset_of!(LinkCreateAttr, tcx_expected_revision), 24);
        assert_eq!(offset_of!(MapInfo, name), 24);
        assert_eq!(size_of::<LinkUpdateAttr>(), 16);
        assert_eq!(offset_of!(LinkInfo, ifindex), 16);
    }

    #[test]
    fn object_names_are_made_acceptable() {
        assert_eq!(&object_name("xsk")[..4], b"xsk\0");
        assert_eq!(&object_name("count-and drop")[..15], b"count_and_drop\0");
        let long = object_name("a_very_long_program_name");
        assert_eq!(&long[..15], b"a_very_long_pro");
        assert_eq!(long[15], 0);
    }
}
