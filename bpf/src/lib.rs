//! A tiny eBPF toolkit on raw bpf(2): build programs instruction by instruction, load
//! them (with the verifier's log when it says no), create maps, attach with bpf_link
//! (XDP, tcx), pin. No libbpf, no clang, no ELF.
//!
//! ```no_run
//! use bpf::{Asm, Insn, Jmp, Link, ProgType, Program, Reg, XdpMode};
//!
//! // Drop frames shorter than 60 bytes, pass the rest.
//! let mut asm = Asm::new();
//! asm.push(Insn::ldx(bpf::Size::W, Reg::R2, Reg::R1, bpf::xdp::MD_DATA))
//!     .push(Insn::ldx(bpf::Size::W, Reg::R3, Reg::R1, bpf::xdp::MD_DATA_END))
//!     .push(Insn::add64_imm(Reg::R2, 60))
//!     .push(Insn::mov64_imm(Reg::R0, bpf::xdp::DROP))
//!     .jmp_reg(Jmp::Gt, Reg::R2, Reg::R3, "out")
//!     .push(Insn::mov64_imm(Reg::R0, bpf::xdp::PASS))
//!     .label("out")
//!     .push(Insn::exit());
//! let prog = Program::load(ProgType::Xdp, "runt_filter", &asm.finish()?)?;
//! let _link = Link::attach_xdp(&prog, bpf::ifindex("veth0")?, XdpMode::Driver)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod asm;
mod error;
mod insn;
mod link;
mod map;
mod pin;
mod prog;
mod sys;

pub use asm::{Asm, AsmError};
pub use error::Error;
pub use insn::{op, Alu, Insn, Jmp, Reg, Size};
pub use link::{tcx_program_ids, Link, LinkInfo, TcxDirection, XdpMode};
pub use map::{Map, MapType};
pub use pin::{ensure_bpffs, get_pinned, pin};
pub use prog::{ProgType, Program, TestRun, TestRunOptions};

use std::ffi::{CStr, CString};

/// Helper function ids for [`Insn::call`] (`enum bpf_func_id`).
pub mod helpers {
    pub const MAP_LOOKUP_ELEM: i32 = 1;
    pub const MAP_UPDATE_ELEM: i32 = 2;
    pub const MAP_DELETE_ELEM: i32 = 3;
    pub const KTIME_GET_NS: i32 = 5;
    pub const TRACE_PRINTK: i32 = 6;
    pub const GET_PRANDOM_U32: i32 = 7;
    pub const GET_SMP_PROCESSOR_ID: i32 = 8;
    pub const SKB_STORE_BYTES: i32 = 9;
    pub const L3_CSUM_REPLACE: i32 = 10;
    pub const L4_CSUM_REPLACE: i32 = 11;
    pub const TAIL_CALL: i32 = 12;
    pub const CLONE_REDIRECT: i32 = 13;
    pub const REDIRECT: i32 = 23;
    pub const SKB_LOAD_BYTES: i32 = 26;
    pub const CSUM_DIFF: i32 = 28;
    pub const XDP_ADJUST_HEAD: i32 = 44;
    /// `bpf_redirect_map(map, key, flags)`: the low two bits of `flags` are the action
    /// returned when `key` has no entry (e.g. `xdp::PASS`).
    pub const REDIRECT_MAP: i32 = 51;
    pub const XDP_ADJUST_META: i32 = 54;
    pub const XDP_ADJUST_TAIL: i32 = 65;
    pub const FIB_LOOKUP: i32 = 69;
    pub const KTIME_GET_BOOT_NS: i32 = 125;
    pub const REDIRECT_NEIGH: i32 = 152;
    pub const REDIRECT_PEER: i32 = 155;
    /// `bpf_xdp_get_buff_len(ctx)`: frame length including fragments.
    pub const XDP_GET_BUFF_LEN: i32 = 188;
    pub const XDP_LOAD_BYTES: i32 = 189;
    pub const XDP_STORE_BYTES: i32 = 190;
}

/// XDP actions and the layout of `struct xdp_md`, the context an XDP program gets in R1.
pub mod xdp {
    pub const ABORTED: i32 = 0;
    pub const DROP: i32 = 1;
    pub const PASS: i32 = 2;
    pub const TX: i32 = 3;
    pub const REDIRECT: i32 = 4;

    /// `xdp_md.data` (u32; the verifier turns the load into a packet pointer).
    pub const MD_DATA: i16 = 0;
    /// `xdp_md.data_end`: one past the last byte; every packet access is checked against it.
    pub const MD_DATA_END: i16 = 4;
    pub const MD_DATA_META: i16 = 8;
    pub const MD_INGRESS_IFINDEX: i16 = 12;
    pub const MD_RX_QUEUE_INDEX: i16 = 16;
    pub const MD_EGRESS_IFINDEX: i16 = 20;

    /// `struct xdp_md` as a test-run context ([`crate::TestRunOptions::ctx_in`]), to make
    /// the program see a given ingress interface and RX queue.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct XdpMd {
        /// Must be 0 (no metadata) in a test-run context.
        pub data: u32,
        /// Must equal the frame length, or the kernel answers EINVAL.
        pub data_end: u32,
        /// Must be 0.
        pub data_meta: u32,
        /// An interface of the caller's network namespace, or 0 for loopback.
        pub ingress_ifindex: u32,
        /// Must be below the interface's RX queue count.
        pub rx_queue_index: u32,
        /// Must be 0.
        pub egress_ifindex: u32,
    }

    impl XdpMd {
        /// A context for a frame of `frame_len` bytes arriving on `ingress_ifindex`, queue
        /// `rx_queue_index`.
        pub fn for_frame(frame_len: usize, ingress_ifindex: u32, rx_queue_index: u32) -> XdpMd {
            XdpMd { data_end: frame_len as u32, ingress_ifindex, rx_queue_index, ..XdpMd::default() }
        }

        pub fn to_bytes(&self) -> [u8; 24] {
            let fields = [
                self.data,
                self.data_end,
                self.data_meta,
                self.ingress_ifindex,
                self.rx_queue_index,
                self.egress_ifindex,
            ];
            let mut bytes = [0u8; 24];
            for (chunk, field) in bytes.chunks_exact_mut(4).zip(fields) {
                chunk.copy_from_slice(&field.to_ne_bytes());
            }
            bytes
        }
    }
}

/// tc / tcx return codes and `struct __sk_buff` offsets for `SchedCls` programs.
pub mod tc {
    /// tcx: continue with the next program in the list (or the default verdict).
    pub const NEXT: i32 = -1;
    /// `TC_ACT_OK` / `TCX_PASS`.
    pub const PASS: i32 = 0;
    /// `TC_ACT_SHOT` / `TCX_DROP`.
    pub const DROP: i32 = 2;
    /// `TC_ACT_REDIRECT` / `TCX_REDIRECT`.
    pub const REDIRECT: i32 = 7;

    pub const SKB_LEN: i16 = 0;
    pub const SKB_MARK: i16 = 8;
    pub const SKB_PROTOCOL: i16 = 16;
    pub const SKB_INGRESS_IFINDEX: i16 = 36;
    pub const SKB_IFINDEX: i16 = 40;
    pub const SKB_DATA: i16 = 76;
    pub const SKB_DATA_END: i16 = 80;
}

/// The number of possible CPUs, which sizes per-CPU map values. Parsed from
/// `/sys/devices/system/cpu/possible` ("0-1", "0,2-3"); may exceed the online count.
pub fn possible_cpus() -> std::io::Result<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
    parse_cpu_list(&text).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("cannot parse CPU list {text:?} from /sys/devices/system/cpu/possible"),
        )
    })
}

/// Counts the CPUs in a kernel CPU list such as "0-3,8,10-11".
fn parse_cpu_list(text: &str) -> Option<usize> {
    let mut count = 0;
    for part in text.trim().split(',') {
        let (first, last) = match part.split_once('-') {
            Some((first, last)) => (first.parse::<usize>().ok()?, last.parse::<usize>().ok()?),
            None => {
                let cpu = part.parse::<usize>().ok()?;
                (cpu, cpu)
            }
        };
        count += last.checked_sub(first)? + 1;
    }
    Some(count)
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn ifindex(name: &str) -> Result<u32, Error> {
    let not_found = || Error::NoSuchInterface { name: name.to_owned() };
    let c_name = CString::new(name).map_err(|_| not_found())?;
    // SAFETY: c_name is NUL-terminated.
    match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
        0 => Err(not_found()),
        index => Ok(index),
    }
}

/// The name of interface `index` in the calling thread's network namespace.
pub fn ifname(index: u32) -> Result<String, Error> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has the IF_NAMESIZE bytes if_indextoname may write.
    let ret = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if ret.is_null() {
        return Err(Error::NoSuchIfindex { ifindex: index });
    }
    // SAFETY: on success buf holds a NUL-terminated name.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Ok(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_counted() {
        assert_eq!(parse_cpu_list("0\n"), Some(1));
        assert_eq!(parse_cpu_list("0-1\n"), Some(2));
        assert_eq!(parse_cpu_list("0,2-3"), Some(3));
        assert_eq!(parse_cpu_list("0-3,8,10-11"), Some(7));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert!(possible_cpus().unwrap() >= 1);
    }

    #[test]
    fn loopback_is_found_and_unknown_names_are_not() {
        let lo = ifindex("lo").unwrap();
        assert_eq!(ifname(lo).unwrap(), "lo");
        let err = ifindex("no-such-if0").unwrap_err();
        assert!(matches!(err, Error::NoSuchInterface { .. }));
        assert!(err.to_string().contains("no-such-if0"));
        assert!(ifindex("bad\0name").is_err());
    }

    #[test]
    fn xdp_md_bytes_follow_the_struct() {
        let md = xdp::XdpMd::for_frame(60, 3, 1);
        let bytes = md.to_bytes();
        assert_eq!(&bytes[4..8], &60u32.to_ne_bytes());
        assert_eq!(&bytes[12..16], &3u32.to_ne_bytes());
        assert_eq!(&bytes[16..20], &1u32.to_ne_bytes());
        assert_eq!(bytes[xdp::MD_RX_QUEUE_INDEX as usize], 1);
    }
}
