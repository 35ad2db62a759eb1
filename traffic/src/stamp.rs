//! The generator's stamp: 18 bytes at the start of the innermost L4 payload (UDP or TCP data)
//! carrying a stream id, a sequence number and a send time, so the sink can count loss and
//! reordering and measure latency. No trailer: the stamp sits where any rewrite of outer
//! headers (encap, decap, TTL) leaves it alone, and the sink finds it by walking the layers.
//!
//! ```text
//!  0      2        4                10                      18
//!  | magic | stream | seq (48 bits)  | CLOCK_MONOTONIC ns    |
//! ```
//!
//! 18 bytes is what a 60-byte IPv4/UDP frame has room for (60 - 14 - 20 - 8). Frames with
//! less room (a 60-byte TCP frame) carry no stamp; the sink still counts them.

use wire::{L4Kind, Offsets, TcpPacket};

/// Bytes of a stamp: magic (2), stream (2), sequence number (6), send time (8).
pub const STAMP_LEN: usize = 18;

/// A stamp whose sequence number counts frames: loss, order and latency apply.
pub const MAGIC_SEQUENCED: u16 = 0xd5a1;
/// A stamp on frames sent many times over as the same bytes (the live engine repeats one
/// buffer): the sink counts them but cannot tell one copy from another.
pub const MAGIC_STATIC: u16 = 0xd5a0;

const SEQ_MASK: u64 = (1 << 48) - 1;

/// What the generator writes at the start of the innermost payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// False for [`MAGIC_STATIC`] stamps.
    pub sequenced: bool,
    /// Tells generator runs apart, so a sink that outlives one generator does not mix their
    /// sequence numbers.
    pub stream: u16,
    /// 48 bits, from 0 for each stream.
    pub seq: u64,
    /// `CLOCK_MONOTONIC` when the frame was written to the transmit ring.
    pub sent_ns: u64,
}

impl Stamp {
    /// Writes the stamp at the start of `payload`; false (nothing written) if it does not fit.
    pub fn write(&self, payload: &mut [u8]) -> bool {
        let Some(out) = payload.get_mut(..STAMP_LEN) else { return false };
        let magic = if self.sequenced { MAGIC_SEQUENCED } else { MAGIC_STATIC };
        out[0..2].copy_from_slice(&magic.to_be_bytes());
        out[2..4].copy_from_slice(&self.stream.to_be_bytes());
        out[4..10].copy_from_slice(&(self.seq & SEQ_MASK).to_be_bytes()[2..]);
        out[10..18].copy_from_slice(&self.sent_ns.to_be_bytes());
        true
    }

    /// Reads a stamp from the start of `payload`, if one is there.
    pub fn read(payload: &[u8]) -> Option<Stamp> {
        let b = payload.get(..STAMP_LEN)?;
        let sequenced = match u16::from_be_bytes([b[0], b[1]]) {
            MAGIC_SEQUENCED => true,
            MAGIC_STATIC => false,
            _ => return None,
        };
        let mut seq = [0u8; 8];
        seq[2..].copy_from_slice(&b[4..10]);
        Some(Stamp {
            sequenced,
            stream: u16::from_be_bytes([b[2], b[3]]),
            seq: u64::from_be_bytes(seq),
            sent_ns: u64::from_be_bytes(b[10..18].try_into().ok()?),
        })
    }
}

/// Where the innermost UDP or TCP payload of a walked frame starts (None for other
/// protocols, fragments without an L4 header, a cut TCP header).
pub fn payload_offset(frame: &[u8], offsets: &Offsets) -> Option<usize> {
    let l4 = offsets.innermost().l4?;
    match l4.kind {
        L4Kind::Udp => Some(l4.offset + wire::udp::HEADER_LEN),
        L4Kind::Tcp => {
            let tcp = TcpPacket::new_checked(frame.get(l4.offset..l4.end())?).ok()?;
            Some(l4.offset + tcp.header_len())
        }
        _ => None,
    }
}

/// The stamp in a walked frame, if it has one. Looks only within the innermost L4 segment
/// (not in Ethernet padding).
pub fn find(frame: &[u8], offsets: &Offsets) -> Option<Stamp> {
    let start = payload_offset(frame, offsets)?;
    let end = offsets.innermost().l4?.end();
    Stamp::read(frame.get(start..end)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let stamp = Stamp { sequenced: true, stream: 0xbeef, seq: (1 << 48) - 2, sent_ns: u64::MAX - 5 };
        let mut buf = [0u8; STAMP_LEN];
        assert!(stamp.write(&mut buf));
        assert_eq!(Stamp::read(&buf), Some(stamp));
        assert_eq!(Stamp::read(&buf[..STAMP_LEN - 1]), None);
        assert!(!stamp.write(&mut [0u8; STAMP_LEN - 1]));
        let live = Stamp { sequenced: false, ..stamp };
        live.write(&mut buf);
        assert_eq!(Stamp::read(&buf), Some(live));
        buf[0] = 0;
        assert_eq!(Stamp::read(&buf), None, "no magic, no stamp");
    }

    #[test]
    fn seq_wraps_at_48_bits() {
        let mut buf = [0u8; STAMP_LEN];
        Stamp { sequenced: true, stream: 1, seq: 1 << 48 | 7, sent_ns: 0 }.write(&mut buf);
        assert_eq!(Stamp::read(&buf).unwrap().seq, 7);
    }
}
