//! RX hints: what the device knew of a received frame (its hardware timestamp, its RSS hash
//! and hash type, the VLAN tag it stripped), read by the redirect program through the XDP
//! metadata kfuncs and handed to user space in the frame's metadata area.
//!
//! The program ([`crate::xdp_prog`], with hints) grows the metadata area by
//! [`HINTS_LEN`] bytes (`bpf_xdp_adjust_meta`), fills an [`RxHints`] there
//! (`bpf_xdp_metadata_rx_timestamp`, `_rx_hash`, `_rx_vlan_tag`, each only where the
//! kernel's BTF has it) and redirects the frame to its socket. In copy mode the kernel copies
//! the metadata area into the UMEM right in front of the frame data (net/xdp/xsk.c,
//! `__xsk_rcv`: `memcpy(xsk_xdp->data - meta_len, data_meta, len + meta_len)`), and in
//! zero-copy mode the driver's buffer already holds it there; the descriptor's address is
//! that of the data, so user space finds the struct in the [`HINTS_LEN`] bytes before it.
//! A frame the program could not give metadata (`bpf_xdp_adjust_meta` refused) has none
//! copied: the bytes there are whatever the chunk held, which is why the struct ends with
//! a magic word and the reader clears it after reading ([`take`]).
//!
//! Layout (native byte order, 32 bytes, version 1):
//!
//! | offset | field | |
//! |---|---|---|
//! | 0 | u64 `timestamp` | `bpf_xdp_metadata_rx_timestamp`: ns of the device's clock (PHC) |
//! | 8 | u32 `hash` | `bpf_xdp_metadata_rx_hash` |
//! | 12 | u32 `hash_type` | `enum xdp_rss_hash_type` |
//! | 16 | u16 `vlan_proto` | `bpf_xdp_metadata_rx_vlan_tag`, network byte order as the kfunc writes it |
//! | 18 | u16 `vlan_tci` | |
//! | 20 | i16 ×3 | each kfunc's return: 0, or `-EOPNOTSUPP` (device has no such op), `-ENODATA` (not for this frame) |
//! | 26 | u16 `valid` | [`VALID_TIMESTAMP`] (returned 0 and non-zero), [`VALID_HASH`], [`VALID_VLAN`] (returned 0), [`VALID_XDP_TIME`] (no device timestamp: `timestamp` is the program's `CLOCK_MONOTONIC`) |
//! | 28 | u32 `magic` | [`HINTS_MAGIC`] |

use bpf::Btf;

/// Bytes of metadata the program reserves in front of each frame: the struct below. The
/// kernel takes metadata in 4-byte steps (`xdp_metalen_invalid`, include/net/xdp.h); 32
/// bytes is within the limit of every kernel (older ones took no more).
pub const HINTS_LEN: usize = 32;

/// The last word of the struct: "hint" and the layout version (1) in the low byte.
pub const HINTS_MAGIC: u32 = 0x6869_6e01;

/// `valid` bit: `timestamp` holds the device's RX timestamp (the kfunc returned 0 and a
/// non-zero time: a device without one, such as veth, writes 0).
pub const VALID_TIMESTAMP: u16 = 1 << 0;
/// `valid` bit: no device timestamp, so `timestamp` holds the time the program saw the frame
/// (`bpf_ktime_get_ns`, `CLOCK_MONOTONIC`): later than the wire, earlier than user space.
pub const VALID_XDP_TIME: u16 = 1 << 3;
/// `valid` bit: `hash` and `hash_type` hold the device's RSS hash.
pub const VALID_HASH: u16 = 1 << 1;
/// `valid` bit: `vlan_proto` and `vlan_tci` hold the VLAN tag the device took off.
pub const VALID_VLAN: u16 = 1 << 2;

/// Field offsets inside the metadata area (the table above), shared by the program that
/// writes them.
pub mod offset {
    /// u64: the RX timestamp.
    pub const TIMESTAMP: i16 = 0;
    /// u32: the RSS hash.
    pub const HASH: i16 = 8;
    /// u32: its `enum xdp_rss_hash_type`.
    pub const HASH_TYPE: i16 = 12;
    /// u16, network byte order: the VLAN TPID.
    pub const VLAN_PROTO: i16 = 16;
    /// u16: the VLAN TCI.
    pub const VLAN_TCI: i16 = 18;
    /// i16: the timestamp kfunc's return.
    pub const TIMESTAMP_RET: i16 = 20;
    /// i16: the hash kfunc's return.
    pub const HASH_RET: i16 = 22;
    /// i16: the vlan tag kfunc's return.
    pub const VLAN_RET: i16 = 24;
    /// u16: the `VALID_*` bits.
    pub const VALID: i16 = 26;
    /// u32: [`super::HINTS_MAGIC`].
    pub const MAGIC: i16 = 28;
}

/// The kernel functions that read the hints, by name in the kernel's BTF.
pub const KFUNC_TIMESTAMP: &str = "bpf_xdp_metadata_rx_timestamp";
/// See [`KFUNC_TIMESTAMP`].
pub const KFUNC_HASH: &str = "bpf_xdp_metadata_rx_hash";
/// See [`KFUNC_TIMESTAMP`].
pub const KFUNC_VLAN_TAG: &str = "bpf_xdp_metadata_rx_vlan_tag";

/// The BTF ids of the metadata kfuncs this kernel has (the vlan one came in 6.8, the others
/// in 6.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HintKfuncs {
    /// `bpf_xdp_metadata_rx_timestamp`.
    pub timestamp: Option<u32>,
    /// `bpf_xdp_metadata_rx_hash` (with the hash type: Linux 6.4 and later).
    pub hash: Option<u32>,
    /// `bpf_xdp_metadata_rx_vlan_tag`.
    pub vlan_tag: Option<u32>,
}

impl HintKfuncs {
    /// Looks the kfuncs up in `btf` (the kernel's, [`Btf::vmlinux`]).
    pub fn resolve(btf: &Btf) -> HintKfuncs {
        HintKfuncs {
            timestamp: btf.find_func(KFUNC_TIMESTAMP),
            hash: btf.find_func(KFUNC_HASH),
            vlan_tag: btf.find_func(KFUNC_VLAN_TAG),
        }
    }

    /// Only those a device implements, by its `xdp-rx-metadata-features` mask
    /// ([`crate::netdev_genl`]).
    pub fn implemented_by(self, features: u64) -> HintKfuncs {
        use crate::netdev_genl::{RX_METADATA_HASH, RX_METADATA_TIMESTAMP, RX_METADATA_VLAN_TAG};
        let keep = |id: Option<u32>, bit: u64| id.filter(|_| features & bit != 0);
        HintKfuncs {
            timestamp: keep(self.timestamp, RX_METADATA_TIMESTAMP),
            hash: keep(self.hash, RX_METADATA_HASH),
            vlan_tag: keep(self.vlan_tag, RX_METADATA_VLAN_TAG),
        }
    }

    /// None of them: a program with hints would read nothing.
    pub fn is_empty(&self) -> bool {
        self.timestamp.is_none() && self.hash.is_none() && self.vlan_tag.is_none()
    }

    /// The names of those found, for messages.
    pub fn names(&self) -> Vec<&'static str> {
        [(self.timestamp, "timestamp"), (self.hash, "hash"), (self.vlan_tag, "vlan_tag")]
            .into_iter()
            .filter_map(|(id, name)| id.map(|_| name))
            .collect()
    }
}

/// One frame's hints, as the program wrote them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxHints {
    /// The device's RX timestamp (ns on its clock, which is `CLOCK_TAI` when a PTP daemon
    /// keeps it so), when it gave one.
    pub timestamp: Option<u64>,
    /// Without a device timestamp: `CLOCK_MONOTONIC` when the XDP program ran.
    pub xdp_time: Option<u64>,
    /// The RSS hash and its `enum xdp_rss_hash_type`.
    pub hash: Option<(u32, u32)>,
    /// The stripped VLAN tag: TPID (e.g. 0x8100) and TCI, host byte order.
    pub vlan: Option<(u16, u16)>,
    /// Each kfunc's return value (0 or a negative errno): timestamp, hash, vlan tag.
    pub returns: [i16; 3],
}

impl RxHints {
    /// Reads the struct from the [`HINTS_LEN`] bytes before a frame; `None` without the magic
    /// (the program gave this frame no metadata).
    pub fn parse(meta: &[u8; HINTS_LEN]) -> Option<RxHints> {
        let u16_at = |at: i16| u16::from_ne_bytes([meta[at as usize], meta[at as usize + 1]]);
        let u32_at = |at: i16| u32::from_ne_bytes(meta[at as usize..at as usize + 4].try_into().expect("4 bytes"));
        if u32_at(offset::MAGIC) != HINTS_MAGIC {
            return None;
        }
        let valid = u16_at(offset::VALID);
        let timestamp = u64::from_ne_bytes(meta[..8].try_into().expect("8 bytes"));
        Some(RxHints {
            timestamp: (valid & VALID_TIMESTAMP != 0).then_some(timestamp),
            xdp_time: (valid & (VALID_TIMESTAMP | VALID_XDP_TIME) == VALID_XDP_TIME).then_some(timestamp),
            hash: (valid & VALID_HASH != 0).then(|| (u32_at(offset::HASH), u32_at(offset::HASH_TYPE))),
            vlan: (valid & VALID_VLAN != 0)
                .then(|| (u16::from_be(u16_at(offset::VLAN_PROTO)), u16_at(offset::VLAN_TCI))),
            returns: [offset::TIMESTAMP_RET, offset::HASH_RET, offset::VLAN_RET].map(|at| u16_at(at) as i16),
        })
    }
}

/// Reads the hints in front of a received frame and clears the magic, so a later frame in
/// this chunk that got no metadata is not read with these. `headroom` ends at the frame's
/// data (its last [`HINTS_LEN`] bytes are read), as [`umem::Umem::headroom_mut`] gives it.
#[inline]
pub fn take(headroom: &mut [u8]) -> Option<RxHints> {
    let start = headroom.len().checked_sub(HINTS_LEN)?;
    let meta: &mut [u8; HINTS_LEN] = (&mut headroom[start..]).try_into().ok()?;
    let hints = RxHints::parse(meta)?;
    meta[offset::MAGIC as usize..].fill(0);
    Some(hints)
}

/// Frames that carried each hint, per socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HintCounts {
    /// Frames with the program's metadata (whatever it held).
    pub with_metadata: u64,
    /// Frames with a device RX timestamp.
    pub timestamp: u64,
    /// Frames stamped by the program instead (no device timestamp).
    pub xdp_time: u64,
    /// Frames with an RSS hash.
    pub hash: u64,
    /// Frames with a stripped VLAN tag.
    pub vlan: u64,
}

impl HintCounts {
    /// Counts one frame's hints.
    #[inline]
    pub fn count(&mut self, hints: &RxHints) {
        self.with_metadata += 1;
        self.timestamp += u64::from(hints.timestamp.is_some());
        self.xdp_time += u64::from(hints.xdp_time.is_some());
        self.hash += u64::from(hints.hash.is_some());
        self.vlan += u64::from(hints.vlan.is_some());
    }
}

impl std::ops::AddAssign for HintCounts {
    fn add_assign(&mut self, other: HintCounts) {
        self.with_metadata += other.with_metadata;
        self.timestamp += other.timestamp;
        self.xdp_time += other.xdp_time;
        self.hash += other.hash;
        self.vlan += other.vlan;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(valid: u16, magic: u32) -> [u8; HINTS_LEN] {
        let mut meta = [0u8; HINTS_LEN];
        meta[..8].copy_from_slice(&1_700_000_000_123_456_789u64.to_ne_bytes());
        meta[8..12].copy_from_slice(&0xdead_beefu32.to_ne_bytes());
        meta[12..16].copy_from_slice(&0x0fu32.to_ne_bytes());
        meta[16..18].copy_from_slice(&0x8100u16.to_be_bytes());
        meta[18..20].copy_from_slice(&0x2064u16.to_ne_bytes());
        meta[20..22].copy_from_slice(&0i16.to_ne_bytes());
        meta[22..24].copy_from_slice(&(-95i16).to_ne_bytes());
        meta[24..26].copy_from_slice(&(-61i16).to_ne_bytes());
        meta[26..28].copy_from_slice(&valid.to_ne_bytes());
        meta[28..].copy_from_slice(&magic.to_ne_bytes());
        meta
    }

    #[test]
    fn parse_reads_only_what_valid_says() {
        let all = RxHints::parse(&area(VALID_TIMESTAMP | VALID_HASH | VALID_VLAN, HINTS_MAGIC)).unwrap();
        assert_eq!(all.timestamp, Some(1_700_000_000_123_456_789));
        assert_eq!(all.hash, Some((0xdead_beef, 0x0f)));
        assert_eq!(all.vlan, Some((0x8100, 0x2064)));
        assert_eq!(all.returns, [0, -95, -61]);
        assert_eq!(all.xdp_time, None, "a device timestamp wins");
        let soft = RxHints::parse(&area(VALID_XDP_TIME, HINTS_MAGIC)).unwrap();
        assert_eq!((soft.timestamp, soft.xdp_time), (None, Some(1_700_000_000_123_456_789)));
        let none = RxHints::parse(&area(0, HINTS_MAGIC)).unwrap();
        assert_eq!((none.timestamp, none.xdp_time, none.hash, none.vlan), (None, None, None, None));
        assert_eq!(RxHints::parse(&area(VALID_HASH, HINTS_MAGIC)).unwrap().hash, Some((0xdead_beef, 0x0f)));
        assert_eq!(RxHints::parse(&area(VALID_HASH, 0)), None, "no magic, no hints");
        assert_eq!(RxHints::parse(&area(VALID_HASH, HINTS_MAGIC + 1)), None, "another version");
    }

    #[test]
    fn take_reads_the_bytes_before_the_data_once() {
        let mut headroom = vec![0x55u8; 256];
        headroom[256 - HINTS_LEN..].copy_from_slice(&area(VALID_HASH, HINTS_MAGIC));
        assert_eq!(take(&mut headroom).unwrap().hash, Some((0xdead_beef, 0x0f)));
        assert_eq!(take(&mut headroom), None, "the magic was cleared");
        assert_eq!(take(&mut [0u8; HINTS_LEN - 1]), None, "too little headroom");
    }

    #[test]
    fn a_device_keeps_only_the_kfuncs_it_implements() {
        let all = HintKfuncs { timestamp: Some(1), hash: Some(2), vlan_tag: Some(3) };
        assert_eq!(all.implemented_by(7), all);
        assert_eq!(all.implemented_by(2), HintKfuncs { hash: Some(2), ..HintKfuncs::default() });
        assert!(all.implemented_by(0).is_empty());
        assert_eq!(all.implemented_by(5).names(), ["timestamp", "vlan_tag"]);
    }

    #[test]
    fn counts_add_up() {
        let mut counts = HintCounts::default();
        counts.count(&RxHints { hash: Some((1, 0)), ..RxHints::default() });
        counts.count(&RxHints { timestamp: Some(5), vlan: Some((0x8100, 1)), ..RxHints::default() });
        let mut total = counts;
        total += counts;
        counts.count(&RxHints { xdp_time: Some(7), ..RxHints::default() });
        total += counts;
        assert_eq!(total, HintCounts { with_metadata: 7, timestamp: 3, xdp_time: 1, hash: 3, vlan: 3 });
    }
}
