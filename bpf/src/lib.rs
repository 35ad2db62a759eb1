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

// This crate talks to the kernel through raw memory and system calls; every unsafe block
// says why it is sound in a `// SAFETY:` comment.
#![allow(unsafe_code)]

mod asm;
pub mod btf;
mod cpu;
mod error;
mod iface;
mod insn;
mod link;
mod map;
mod pin;
mod prog;
mod sys;
mod xdp_mode;

pub use asm::{Asm, AsmError};
pub use btf::{Btf, BtfError, BtfKind};
pub use cpu::possible_cpus;
pub use error::Error;
pub use iface::{ifindex, ifname};
pub use insn::{op, Alu, Insn, Jmp, Reg, Size};
pub use link::{tcx_program_ids, Link, LinkInfo, TcxDirection};
pub use map::{Map, MapType};
pub use pin::{ensure_bpffs, get_pinned, pin};
pub use prog::{LoadOptions, ProgType, Program, TestRun, TestRunOptions};
pub use xdp_mode::XdpMode;

/// Helper function ids for [`Insn::call`] (`enum bpf_func_id`).
pub mod helpers {
    /// `bpf_map_lookup_elem(map, key)`: a pointer to the value, or NULL.
    pub const MAP_LOOKUP_ELEM: i32 = 1;
    /// `bpf_map_update_elem(map, key, value, flags)`: 0 or a negative errno.
    pub const MAP_UPDATE_ELEM: i32 = 2;
    /// `bpf_map_delete_elem(map, key)`.
    pub const MAP_DELETE_ELEM: i32 = 3;
    /// `bpf_ktime_get_ns()`: `CLOCK_MONOTONIC` in nanoseconds.
    pub const KTIME_GET_NS: i32 = 5;
    /// `bpf_trace_printk(fmt, fmt_size, ...)`: a line in the kernel's trace pipe (debugging).
    pub const TRACE_PRINTK: i32 = 6;
    /// `bpf_get_prandom_u32()`: a pseudo-random number (not for cryptography).
    pub const GET_PRANDOM_U32: i32 = 7;
    /// `bpf_get_smp_processor_id()`: the CPU the program runs on.
    pub const GET_SMP_PROCESSOR_ID: i32 = 8;
    /// `bpf_skb_store_bytes(skb, offset, from, len, flags)`.
    pub const SKB_STORE_BYTES: i32 = 9;
    /// `bpf_l3_csum_replace(skb, offset, from, to, size)`: an incremental IP checksum update.
    pub const L3_CSUM_REPLACE: i32 = 10;
    /// `bpf_l4_csum_replace(skb, offset, from, to, flags)`: an incremental L4 checksum update.
    pub const L4_CSUM_REPLACE: i32 = 11;
    /// `bpf_tail_call(ctx, prog_array, index)`: continues in another program, not returning.
    pub const TAIL_CALL: i32 = 12;
    /// `bpf_clone_redirect(skb, ifindex, flags)`: a copy of the packet to another device.
    pub const CLONE_REDIRECT: i32 = 13;
    /// `bpf_redirect(ifindex, flags)`: the packet to another device (return its result).
    pub const REDIRECT: i32 = 23;
    /// `bpf_skb_load_bytes(skb, offset, to, len)`.
    pub const SKB_LOAD_BYTES: i32 = 26;
    /// `bpf_csum_diff(from, from_size, to, to_size, seed)`: a one's-complement sum difference.
    pub const CSUM_DIFF: i32 = 28;
    /// `bpf_xdp_adjust_head(xdp_md, delta)`: grows (negative delta) or shrinks the frame at its start.
    pub const XDP_ADJUST_HEAD: i32 = 44;
    /// `bpf_redirect_map(map, key, flags)`: the low two bits of `flags` are the action
    /// returned when `key` has no entry (e.g. `xdp::PASS`).
    pub const REDIRECT_MAP: i32 = 51;
    /// `bpf_xdp_adjust_meta(xdp_md, delta)`: makes room for metadata before the frame.
    pub const XDP_ADJUST_META: i32 = 54;
    /// `bpf_xdp_adjust_tail(xdp_md, delta)`: grows or shrinks the frame at its end.
    pub const XDP_ADJUST_TAIL: i32 = 65;
    /// `bpf_fib_lookup(ctx, params, plen, flags)`: a route and neighbour lookup.
    pub const FIB_LOOKUP: i32 = 69;
    /// `bpf_ktime_get_boot_ns()`: `CLOCK_BOOTTIME` in nanoseconds.
    pub const KTIME_GET_BOOT_NS: i32 = 125;
    /// `bpf_redirect_neigh(ifindex, params, plen, flags)`: to another device, the neighbour resolved by the kernel.
    pub const REDIRECT_NEIGH: i32 = 152;
    /// `bpf_redirect_peer(ifindex, flags)`: to the peer of a veth or netkit device (tc ingress only).
    pub const REDIRECT_PEER: i32 = 155;
    /// `bpf_xdp_get_buff_len(ctx)`: frame length including fragments.
    pub const XDP_GET_BUFF_LEN: i32 = 188;
    /// `bpf_xdp_load_bytes(xdp_md, offset, buf, len)`: reads across fragments.
    pub const XDP_LOAD_BYTES: i32 = 189;
    /// `bpf_xdp_store_bytes(xdp_md, offset, buf, len)`: writes across fragments.
    pub const XDP_STORE_BYTES: i32 = 190;
}

/// XDP actions and the layout of `struct xdp_md`, the context an XDP program gets in R1.
pub mod xdp {
    /// `XDP_ABORTED`: a program error: dropped, and traced as `xdp:xdp_exception`.
    pub const ABORTED: i32 = 0;
    /// `XDP_DROP`: dropped.
    pub const DROP: i32 = 1;
    /// `XDP_PASS`: on to the kernel's network stack.
    pub const PASS: i32 = 2;
    /// `XDP_TX`: back out of the interface it came in on.
    pub const TX: i32 = 3;
    /// `XDP_REDIRECT`: where `bpf_redirect` or `bpf_redirect_map` said (another device, a CPU, an AF_XDP socket).
    pub const REDIRECT: i32 = 4;

    /// `xdp_md.data` (u32; the verifier turns the load into a packet pointer).
    pub const MD_DATA: i16 = 0;
    /// `xdp_md.data_end`: one past the last byte; every packet access is checked against it.
    pub const MD_DATA_END: i16 = 4;
    /// `xdp_md.data_meta`: start of the metadata area before `data`.
    pub const MD_DATA_META: i16 = 8;
    /// `xdp_md.ingress_ifindex`: the interface the frame arrived on.
    pub const MD_INGRESS_IFINDEX: i16 = 12;
    /// `xdp_md.rx_queue_index`: the receive queue the frame arrived on.
    pub const MD_RX_QUEUE_INDEX: i16 = 16;
    /// `xdp_md.egress_ifindex`: the target interface, for programs in a devmap.
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

        /// The 24 bytes the kernel reads, in host byte order.
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

    /// `__sk_buff.len`: the packet's length in bytes.
    pub const SKB_LEN: i16 = 0;
    /// `__sk_buff.mark`: the packet mark (`fwmark`), readable and writable.
    pub const SKB_MARK: i16 = 8;
    /// `__sk_buff.protocol`: the EtherType, in network byte order.
    pub const SKB_PROTOCOL: i16 = 16;
    /// `__sk_buff.ingress_ifindex`: the interface the packet arrived on.
    pub const SKB_INGRESS_IFINDEX: i16 = 36;
    /// `__sk_buff.ifindex`: the interface the packet is on now.
    pub const SKB_IFINDEX: i16 = 40;
    /// `__sk_buff.data`: start of the linear packet data (a packet pointer).
    pub const SKB_DATA: i16 = 76;
    /// `__sk_buff.data_end`: one past the linear data; accesses are checked against it.
    pub const SKB_DATA_END: i16 = 80;
}

#[cfg(test)]
mod tests {
    use super::*;

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
