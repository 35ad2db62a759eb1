//! Checksums per layer: verify (a status for each), and compute (full, or the outer one by
//! Local Checksum Offload).
//!
//! Local Checksum Offload (Linux `Documentation/networking/checksum-offloads.rst`,
//! `lco_csum()` in `include/linux/skbuff.h`): once an inner L4 checksum is correct, the
//! one's-complement sum of the inner L4 segment (checksum included) is the negated sum of
//! its pseudo-header, because the two together sum to zero. So the sum over the whole outer
//! UDP payload (or GRE packet) needs only the bytes in front of the inner L4 header plus that
//! negated pseudo-header sum: the payload is never read again.

use crate::csum::{ipv4_header_sum, ipv4_pseudo_header_addresses, ipv6_pseudo_header, verify, Sum};
use crate::walk::{Headers, L3Info, L3Kind, L4Info, L4Kind, Offsets, PortSet, TunnelKind};

/// A checksum's state, as `inspect` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The checksum is right.
    Good,
    /// The checksum is wrong.
    Bad,
    /// A UDP checksum of 0: "none" on IPv4 (RFC 768); forbidden on IPv6 (RFC 8200 §8.1)
    /// except for tunnels configured for it (RFC 6935, RFC 6936).
    Zero,
    /// No such layer, or a layer without a checksum (IPv6 header, GRE without the C bit).
    Absent,
    /// An L4 checksum of an IP fragment: it covers the whole datagram, which one fragment
    /// does not hold.
    Unverifiable,
}

impl Status {
    /// The stable name used in `inspect --json`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Good => "good",
            Status::Bad => "bad",
            Status::Zero => "zero",
            Status::Absent => "absent",
            Status::Unverifiable => "unverifiable",
        }
    }
}

/// The checksum layers, in the order a frame is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsumLayer {
    /// The only or outermost IPv4 header checksum.
    OuterL3,
    /// The only or outermost UDP or TCP (or ICMP) checksum.
    OuterL4,
    /// The GRE checksum (C bit set).
    Tunnel,
    /// The IPv4 header checksum inside the tunnel.
    InnerL3,
    /// The UDP or TCP (or ICMP) checksum inside the tunnel.
    InnerL4,
}

impl CsumLayer {
    /// Every layer, in order.
    pub const ALL: [CsumLayer; 5] =
        [CsumLayer::OuterL3, CsumLayer::OuterL4, CsumLayer::Tunnel, CsumLayer::InnerL3, CsumLayer::InnerL4];

    /// The stable name used in `inspect --json` and on the command line (`outer_l3`, ...).
    pub fn name(self) -> &'static str {
        match self {
            CsumLayer::OuterL3 => "outer_l3",
            CsumLayer::OuterL4 => "outer_l4",
            CsumLayer::Tunnel => "tunnel",
            CsumLayer::InnerL3 => "inner_l3",
            CsumLayer::InnerL4 => "inner_l4",
        }
    }
}

/// The status of every checksum layer of one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdicts(pub [Status; 5]);

impl Verdicts {
    /// The status of `layer`.
    pub fn get(&self, layer: CsumLayer) -> Status {
        self.0[layer as usize]
    }
}

/// Which zero checksums are acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZeroPolicy {
    /// UDP destination ports (tunnels) whose IPv6 checksum may be zero (RFC 6935 §5,
    /// RFC 6936); empty by default, as RFC 8200 §8.1 requires.
    pub ipv6_zero_ports: PortSet,
}

impl Default for ZeroPolicy {
    fn default() -> Self {
        ZeroPolicy { ipv6_zero_ports: PortSet::empty() }
    }
}

/// Statuses of every layer. A frame the walker could not finish still gets statuses for the
/// layers it did parse.
pub fn verdicts(frame: &[u8], offsets: &Offsets) -> Verdicts {
    let mut out = [Status::Absent; 5];
    let [outer_l3, outer_l4, tunnel_status, inner_l3, inner_l4] = &mut out;
    (*outer_l3, *outer_l4) = headers_status(frame, &offsets.outer);
    if let Some(tunnel) = &offsets.tunnel {
        if tunnel.gre_checksum_offset.is_some() {
            *tunnel_status = gre_status(frame, offsets, tunnel.offset);
        }
    }
    if let Some(inner) = &offsets.inner {
        (*inner_l3, *inner_l4) = headers_status(frame, inner);
    }
    Verdicts(out)
}

/// RFC 2784 §2.5: over the GRE header and payload, checksum field included.
#[cold]
fn gre_status(frame: &[u8], offsets: &Offsets, start: usize) -> Status {
    let end = offsets.outer.l3.map_or(frame.len(), |l3| l3.end);
    match frame.get(start..end) {
        Some(gre) => status_of(verify(Sum::new().add_bytes(gre))),
        None => Status::Absent,
    }
}

#[inline]
fn status_of(good: bool) -> Status {
    if good {
        Status::Good
    } else {
        Status::Bad
    }
}

/// The L3 and L4 statuses of one set of headers.
#[inline]
fn headers_status(frame: &[u8], headers: &Headers) -> (Status, Status) {
    let Some(l3) = headers.l3.as_ref() else { return (Status::Absent, Status::Absent) };
    match ipv4_tcp_udp_status(frame, l3, headers.l4.as_ref()) {
        Some(statuses) => statuses,
        None => headers_status_general(frame, l3, headers.l4.as_ref()),
    }
}

/// [`headers_status`] for any headers.
#[inline]
fn headers_status_general(frame: &[u8], l3: &L3Info, l4: Option<&L4Info>) -> (Status, Status) {
    let l3_status = match l3.kind {
        L3Kind::Ipv4 => match frame.get(l3.offset..l3.offset + l3.header_len) {
            Some(header) => status_of(ipv4_header_sum(header) == 0xffff),
            None => Status::Absent,
        },
        // RFC 8200: the IPv6 header has no checksum.
        L3Kind::Ipv6 => Status::Absent,
    };
    let l4_status = match l4 {
        _ if l3.fragment.is_fragment() => fragment_l4_status(l3, l4),
        Some(l4) => l4_status(frame, l3, l4),
        None => Status::Absent,
    };
    (l3_status, l4_status)
}

/// [`headers_status`] for the headers nearly every frame has: IPv4 without options, not a
/// fragment, and TCP or UDP right after it, in one bounds check for both headers. `None`
/// for anything else (or a packet too short for both headers), which the general code
/// handles; where this answers, it answers as the general code would.
#[inline]
fn ipv4_tcp_udp_status(frame: &[u8], l3: &L3Info, l4: Option<&L4Info>) -> Option<(Status, Status)> {
    const IP: usize = 20;
    let l4 = l4?;
    let common = l3.kind == L3Kind::Ipv4
        && l3.header_len == IP
        && !l3.fragment.is_fragment()
        && l4.offset == l3.offset + IP
        && matches!(l4.kind, L4Kind::Tcp | L4Kind::Udp);
    if !common {
        return None;
    }
    let packet = frame.get(l3.offset..l3.end)?;
    let (header, l4_bytes) = packet.split_first_chunk::<IP>()?;
    let l3_status = status_of(ipv4_header_sum(header) == 0xffff);
    let segment = if l4.kind == L4Kind::Udp {
        let udp = l4_bytes.first_chunk::<8>()?;
        // The UDP length, within the IP payload (as `l4_segment`); one that leaves out the
        // checksum field goes to the general code.
        let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        if udp_len < 8 {
            return None;
        }
        if udp[6..8] == [0, 0] {
            return Some((l3_status, Status::Zero));
        }
        l4_bytes.get(..udp_len.min(l4_bytes.len()))?
    } else {
        // The TCP checksum field must be inside the segment.
        if l4_bytes.len() < 18 {
            return None;
        }
        l4_bytes
    };
    let addresses = header[12..20].try_into().unwrap_or_default();
    let pseudo = ipv4_pseudo_header_addresses(addresses, l3.protocol, segment.len() as u16);
    Some((l3_status, status_of(verify(pseudo.add_bytes(segment)))))
}

/// A fragment's L4 status: a later fragment has no L4 header at all, but its datagram does
/// have a checksum, which no one fragment holds.
#[cold]
fn fragment_l4_status(l3: &L3Info, l4: Option<&L4Info>) -> Status {
    match l4.map(|l4| l4.kind) {
        Some(L4Kind::Other(_)) => Status::Absent,
        _ if is_checksummed_protocol(l3.protocol) => Status::Unverifiable,
        _ => Status::Absent,
    }
}

/// The status of the L4 checksum of a packet that is not a fragment.
#[inline]
fn l4_status(frame: &[u8], l3: &L3Info, l4: &L4Info) -> Status {
    let Some(field) = checksum_field(l4) else { return Status::Absent };
    let Some(segment) = l4_segment(frame, l3, l4) else { return Status::Absent };
    let Some(value) = segment.get(field..field + 2) else { return Status::Absent };
    if l4.kind == L4Kind::Udp && value == [0, 0] {
        return Status::Zero;
    }
    status_of(verify(l4_pseudo_header(frame, l3, l4, segment.len()).add_bytes(segment)))
}

fn is_checksummed_protocol(protocol: u8) -> bool {
    matches!(protocol, 6 | 17 | 1 | 58)
}

/// Where the checksum field sits in the L4 header, for the protocols that have one.
fn checksum_field(l4: &L4Info) -> Option<usize> {
    match l4.kind {
        L4Kind::Udp => Some(6),
        L4Kind::Tcp => Some(16),
        L4Kind::Icmp | L4Kind::Icmpv6 => Some(2),
        L4Kind::Other(_) => None,
    }
}

/// The bytes an L4 checksum covers: for UDP the datagram by its own length field (which
/// the walker checked is within the IP payload), else the IP payload.
fn l4_segment<'a>(frame: &'a [u8], l3: &L3Info, l4: &L4Info) -> Option<&'a [u8]> {
    let end = match l4.kind {
        L4Kind::Udp => {
            let len = frame.get(l4.offset + 4..l4.offset + 6)?;
            l4.offset + usize::from(u16::from_be_bytes([len[0], len[1]]))
        }
        _ => l3.end,
    };
    frame.get(l4.offset..end.min(l3.end))
}

/// The pseudo-header sum for this L4 header (zero for ICMPv4, which has none).
#[inline]
fn l4_pseudo_header(frame: &[u8], l3: &L3Info, l4: &L4Info, len: usize) -> Sum {
    if l4.kind == L4Kind::Icmp {
        return Sum::new();
    }
    match l3.kind {
        L3Kind::Ipv4 => {
            // Source and destination are adjacent (RFC 791 §3.1): one read for both.
            let addresses =
                frame.get(l3.offset + 12..l3.offset + 20).and_then(|s| s.try_into().ok()).unwrap_or_default();
            ipv4_pseudo_header_addresses(addresses, l3.protocol, len as u16)
        }
        L3Kind::Ipv6 => {
            let src = array16(frame, l3.offset + 8);
            // RFC 8200 §8.1: the final destination when a routing header is present.
            let dst = array16(frame, l3.dst_offset);
            ipv6_pseudo_header(&src, &dst, len as u32, l3.protocol)
        }
    }
}

fn array16(frame: &[u8], at: usize) -> [u8; 16] {
    frame.get(at..at + 16).and_then(|s| s.try_into().ok()).unwrap_or_default()
}

/// The first layer whose checksum makes the frame unacceptable, if any.
pub fn first_failure(frame: &[u8], offsets: &Offsets, verdicts: &Verdicts, policy: &ZeroPolicy) -> Option<CsumLayer> {
    for layer in CsumLayer::ALL {
        match verdicts.get(layer) {
            Status::Bad => return Some(layer),
            Status::Zero => {
                let headers = if layer == CsumLayer::OuterL4 { Some(&offsets.outer) } else { offsets.inner.as_ref() };
                if let Some(headers) = headers {
                    if !zero_allowed(frame, headers, policy) {
                        return Some(layer);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

fn zero_allowed(frame: &[u8], headers: &Headers, policy: &ZeroPolicy) -> bool {
    match (headers.l3.as_ref(), headers.l4.as_ref()) {
        (Some(l3), _) if l3.kind == L3Kind::Ipv4 => true,
        (Some(_), Some(l4)) => {
            let port = frame.get(l4.offset + 2..l4.offset + 4).map_or(0, |p| u16::from_be_bytes([p[0], p[1]]));
            policy.ipv6_zero_ports.contains(port)
        }
        _ => false,
    }
}

/// How `fix`/`lco` treat the outer UDP checksum of a tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OuterMode {
    /// Recompute the checksums that are present; an outer UDP checksum of zero stays zero.
    Fix,
    /// Always compute the outer UDP checksum, by LCO.
    Lco,
}

/// Recomputes every checksum of the frame, innermost first (each outer one covers the
/// inner ones). Fragments keep their L4 checksum (the datagram is not all here). A UDP
/// checksum of zero stays zero where `policy` allows it (IPv4; IPv6 on the listed tunnel
/// ports), and is computed where it does not.
pub fn compute(frame: &mut [u8], offsets: &Offsets, mode: OuterMode, policy: &ZeroPolicy) {
    let inner_segment_sum = offsets.inner.as_ref().and_then(|inner| {
        fill_l3(frame, inner.l3.as_ref());
        fill_l4_full(frame, inner, policy)
    });
    compute_outer(frame, offsets, mode, policy, inner_segment_sum);
}

/// The sum of an inner L4 segment whose checksum is taken as correct: the negated
/// pseudo-header sum (the premise of LCO). `None` where the segment has no such checksum
/// (a UDP checksum of zero, a fragment, an unknown protocol, UDP shorter than its IP payload).
pub fn trusted_segment_sum(frame: &[u8], headers: &Headers) -> Option<Sum> {
    let (l3, l4) = (headers.l3.as_ref()?, headers.l4.as_ref()?);
    if l3.fragment.is_fragment() {
        return None;
    }
    let field = l4.offset + checksum_field(l4)?;
    if l4.kind == L4Kind::Udp && frame.get(field..field + 2) == Some(&[0, 0]) {
        return None;
    }
    let len = l4_segment(frame, l3, l4)?.len();
    if l4.offset + len != l3.end {
        return None;
    }
    Some(l4_pseudo_header(frame, l3, l4, len).negate())
}

/// Computes the outer checksums only (L3, and the tunnel's UDP or GRE checksum by LCO when
/// `inner_segment_sum` is known), leaving the inner headers as they are. For encapsulation:
/// the inner frame arrives with its checksums, the new outer headers need theirs.
pub fn compute_outer(
    frame: &mut [u8],
    offsets: &Offsets,
    mode: OuterMode,
    policy: &ZeroPolicy,
    inner_segment_sum: Option<Sum>,
) {
    if let Some(tunnel) = offsets.tunnel {
        let outer_end = offsets.outer.l3.map_or(frame.len(), |l3| l3.end);
        match tunnel.kind {
            TunnelKind::Gre => {
                if let Some(field) = tunnel.gre_checksum_offset {
                    write_u16(frame, field, 0);
                    let sum = sum_by_lco(frame, tunnel.offset, outer_end, offsets, inner_segment_sum);
                    write_u16(frame, field, sum.checksum().get());
                }
            }
            TunnelKind::Vxlan | TunnelKind::Geneve => {
                if let (Some(l3), Some(l4)) = (offsets.outer.l3.as_ref(), offsets.outer.l4.as_ref()) {
                    let field = l4.offset + 6;
                    let keep_zero = frame.get(field..field + 2) == Some(&[0, 0])
                        && mode == OuterMode::Fix
                        && zero_allowed(frame, &offsets.outer, policy);
                    if !keep_zero && !l3.fragment.is_fragment() {
                        write_u16(frame, field, 0);
                        let end = l4_segment(frame, l3, l4).map_or(l4.offset, |s| l4.offset + s.len());
                        let payload = sum_by_lco(frame, l4.offset, end, offsets, inner_segment_sum);
                        let sum = l4_pseudo_header(frame, l3, l4, end - l4.offset).add(payload);
                        write_u16(frame, field, sum.checksum().udp_wire().get());
                    }
                }
            }
            TunnelKind::IpInIp => {}
        }
        fill_l3(frame, offsets.outer.l3.as_ref());
    } else {
        fill_l3(frame, offsets.outer.l3.as_ref());
        fill_l4_full(frame, &offsets.outer, policy);
    }
}

/// The sum of `frame[start..end]`, reading only up to the inner L4 header when its
/// segment sum is known (LCO), else every byte.
fn sum_by_lco(frame: &[u8], start: usize, end: usize, offsets: &Offsets, inner_segment: Option<Sum>) -> Sum {
    let inner = offsets.inner.as_ref();
    let inner_l4 = inner.and_then(|h| h.l4.as_ref());
    // The shortcut stands for the bytes up to the inner IP end; where the tunnel carries more
    // (inner Ethernet padding), sum everything rather than splice at an odd position.
    let inner_ends_the_tunnel = inner.and_then(|h| h.l3.as_ref()).is_some_and(|l3| l3.end == end);
    match (inner_segment, inner_l4) {
        (Some(segment), Some(l4)) if inner_ends_the_tunnel && l4.offset >= start && l4.offset <= end => {
            Sum::new().add_bytes(frame.get(start..l4.offset).unwrap_or(&[])).add(segment)
        }
        _ => Sum::new().add_bytes(frame.get(start..end).unwrap_or(&[])),
    }
}

fn fill_l3(frame: &mut [u8], l3: Option<&L3Info>) {
    let Some(l3) = l3.filter(|l3| l3.kind == L3Kind::Ipv4) else { return };
    write_u16(frame, l3.offset + 10, 0);
    let sum = ipv4_header_sum(frame.get(l3.offset..l3.offset + l3.header_len).unwrap_or(&[]));
    write_u16(frame, l3.offset + 10, !sum);
}

/// Computes the L4 checksum over the whole segment. Returns the segment's sum (checksum
/// included) when it is known without reading it again: the negated pseudo-header sum.
fn fill_l4_full(frame: &mut [u8], headers: &Headers, policy: &ZeroPolicy) -> Option<Sum> {
    let (l3, l4) = (headers.l3.as_ref()?, headers.l4.as_ref()?);
    if l3.fragment.is_fragment() {
        return None;
    }
    let field = l4.offset + checksum_field(l4)?;
    if l4.kind == L4Kind::Udp && frame.get(field..field + 2) == Some(&[0, 0]) && zero_allowed(frame, headers, policy) {
        // UDP without a checksum stays without one where that is allowed (RFC 768, RFC 6935).
        return None;
    }
    write_u16(frame, field, 0);
    let len = l4_segment(frame, l3, l4)?.len();
    let pseudo = l4_pseudo_header(frame, l3, l4, len);
    let sum = pseudo.add_bytes(frame.get(l4.offset..l4.offset + len)?);
    let checksum = if l4.kind == L4Kind::Udp { sum.checksum().udp_wire() } else { sum.checksum() };
    write_u16(frame, field, checksum.get());
    if l4.offset + len != l3.end {
        // UDP shorter than its IP payload: the bytes after it are not in the segment sum.
        return None;
    }
    Some(pseudo.negate())
}

/// The L4 checksum `--csum offload` leaves to the device: the sum runs from `start` (the
/// L4 header, counted from the frame's first byte) to the end of the frame, and the
/// checksum goes at `start + offset` (6 for UDP, 16 for TCP), where
/// [`compute_offload`] put the pseudo-header sum (Linux's `CHECKSUM_PARTIAL`:
/// `csum_start`, `csum_offset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L4Request {
    /// Where the checksummed bytes start (the L4 header).
    pub start: usize,
    /// Where the checksum field is, from `start`.
    pub offset: usize,
}

/// `--csum offload`: every checksum of the frame ends right once the device completes the
/// one returned, the work divided as Local Checksum Offload describes (Linux
/// `Documentation/networking/checksum-offloads.rst`): the IPv4 header checksums here; the
/// innermost UDP or TCP checksum left to the device, its field holding the pseudo-header sum
/// (folded, not inverted: what a driver expects of `CHECKSUM_PARTIAL`); and a tunnel's outer
/// UDP (or GRE) checksum here by LCO from that, since the completed inner segment will sum to
/// the negated pseudo-header sum. The outer UDP checksum is always computed, as
/// [`OuterMode::Lco`] does.
///
/// Where the device cannot be asked, this computes everything as [`compute`] does with
/// [`OuterMode::Lco`] and returns `None`: no UDP or TCP innermost header, a fragment, a UDP
/// checksum of zero that stays zero (RFC 768, RFC 6935), or bytes after the innermost
/// packet (Ethernet padding, a UDP length short of its IP payload, a tunnel that carries
/// more than its inner packet): the device sums to the end of the frame, and LCO needs the
/// inner packet to end the tunnel. [`complete`] applied to the request gives the bytes
/// [`compute`] gives.
pub fn compute_offload(frame: &mut [u8], offsets: &Offsets, policy: &ZeroPolicy) -> Option<L4Request> {
    let Some(request) = offload_request(frame, offsets, policy) else {
        compute(frame, offsets, OuterMode::Lco, policy);
        return None;
    };
    let innermost = offsets.inner.as_ref().unwrap_or(&offsets.outer);
    let (l3, l4) = (innermost.l3.as_ref()?, innermost.l4.as_ref()?);
    fill_l3(frame, Some(l3));
    let len = l3.end - l4.offset;
    let pseudo = l4_pseudo_header(frame, l3, l4, len);
    write_u16(frame, request.start + request.offset, pseudo.fold());
    if offsets.inner.is_some() {
        // The inner segment, once the device has completed it, sums to the negated pseudo-
        // header sum: the premise of LCO.
        compute_outer(frame, offsets, OuterMode::Lco, policy, Some(pseudo.negate()));
    }
    Some(request)
}

/// Whether the innermost L4 checksum of the frame can be left to the device (see
/// [`compute_offload`]), and where.
fn offload_request(frame: &[u8], offsets: &Offsets, policy: &ZeroPolicy) -> Option<L4Request> {
    let innermost = offsets.inner.as_ref().unwrap_or(&offsets.outer);
    let (l3, l4) = (innermost.l3.as_ref()?, innermost.l4.as_ref()?);
    let offset = match l4.kind {
        L4Kind::Udp => 6,
        L4Kind::Tcp => 16,
        _ => return None,
    };
    if l3.fragment.is_fragment() || l3.end != frame.len() || l4.offset + offset + 2 > l3.end {
        return None;
    }
    let field = l4.offset + offset;
    if l4.kind == L4Kind::Udp {
        if frame.get(field..field + 2) == Some(&[0, 0]) && zero_allowed(frame, innermost, policy) {
            return None;
        }
        // The UDP length must cover the whole IP payload: the device sums to the end.
        if l4.offset + l4_segment(frame, l3, l4)?.len() != l3.end {
            return None;
        }
    }
    if offsets.inner.is_some() {
        let outer_l3 = offsets.outer.l3.as_ref()?;
        if outer_l3.fragment.is_fragment() || outer_l3.end != frame.len() {
            return None;
        }
        if let Some(outer_l4) = offsets.outer.l4.as_ref().filter(|l4| l4.kind == L4Kind::Udp) {
            if outer_l4.offset + l4_segment(frame, outer_l3, outer_l4)?.len() != frame.len() {
                return None;
            }
        }
    }
    Some(L4Request { start: l4.offset, offset })
}

/// Completes a checksum [`compute_offload`] left to the device, in software, as a device (or
/// the kernel's `skb_checksum_help`) does: the sum of the bytes from `request.start` to the
/// end of the frame, the pseudo-header sum in the field included, stored inverted (a UDP
/// result of 0 as 0xffff, RFC 768). For a port that cannot ask a device.
pub fn complete(frame: &mut [u8], request: L4Request) {
    let field = request.start + request.offset;
    let Some(bytes) = frame.get(request.start..) else { return };
    if field + 2 > frame.len() {
        return;
    }
    let checksum = Sum::new().add_bytes(bytes).checksum();
    let checksum = if request.offset == 6 { checksum.udp_wire() } else { checksum };
    write_u16(frame, field, checksum.get());
}

fn write_u16(frame: &mut [u8], at: usize, value: u16) {
    if let Some(field) = frame.get_mut(at..at + 2) {
        field.copy_from_slice(&value.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{ethertype, walk, WalkConfig};
    use testkit::frames::{all_shapes, ethernet, ipv4, padded, udp, udp4_frame};

    /// The shortcut for IPv4 with TCP or UDP answers as the general code does.
    fn check_shortcut(frame: &[u8], offsets: &Offsets) {
        let mut sets = vec![&offsets.outer];
        sets.extend(offsets.inner.as_ref());
        for headers in sets {
            let Some(l3) = headers.l3.as_ref() else { continue };
            if let Some(fast) = ipv4_tcp_udp_status(frame, l3, headers.l4.as_ref()) {
                assert_eq!(fast, headers_status_general(frame, l3, headers.l4.as_ref()), "{frame:02x?}");
            }
        }
    }

    /// The walked shapes with every checksum computed, so the shortcut sees good ones too.
    fn fixed_shapes() -> Vec<(Vec<u8>, Offsets)> {
        let config = WalkConfig::default();
        let policy = ZeroPolicy::default();
        let mut shapes = all_shapes();
        // UDP shorter than its IP payload: the bytes after it are not in its checksum.
        shapes.push(ethernet(ethertype::IPV4, &ipv4(17, &[&udp(1, 2, b"data")[..], b"trailer"].concat())));
        shapes
            .into_iter()
            .map(|mut frame| {
                let offsets = walk(&frame, &config).unwrap();
                // A UDP checksum of zero stays zero over IPv4: make every one nonzero first.
                for headers in [Some(&offsets.outer), offsets.inner.as_ref()].into_iter().flatten() {
                    if let Some(l4) = headers.l4.filter(|l4| l4.kind == L4Kind::Udp) {
                        frame[l4.offset + 6] = 1;
                    }
                }
                compute(&mut frame, &offsets, OuterMode::Lco, &policy);
                (frame, offsets)
            })
            .collect()
    }

    #[test]
    fn shortcut_on_every_shape() {
        let mut answered = 0;
        for (frame, offsets) in fixed_shapes() {
            check_shortcut(&frame, &offsets);
            let verdicts = verdicts(&frame, &offsets);
            assert!(!verdicts.0.contains(&Status::Bad), "{verdicts:?}: {frame:02x?}");
            answered += usize::from(
                ipv4_tcp_udp_status(&frame, offsets.outer.l3.as_ref().unwrap(), offsets.outer.l4.as_ref()).is_some(),
            );
        }
        assert!(answered >= 2, "the shortcut took {answered} shapes");
    }

    /// The pseudo-header sum of the innermost L4 header, by the plain reference.
    fn reference_pseudo(frame: &[u8], headers: &Headers) -> u16 {
        let (l3, l4) = (headers.l3.unwrap(), headers.l4.unwrap());
        crate::csum::reference::pseudo_header_sum(frame, &l3, l4.offset)
    }

    /// Offload, then the device's part in software, gives what `lco` gives, byte for byte;
    /// the field the device gets holds the pseudo-header sum of the plain reference.
    #[test]
    fn offload_then_completion_is_lco_on_every_shape() {
        let config = WalkConfig::default();
        let policy = ZeroPolicy::default();
        let mut requested = Vec::new();
        let mut shapes = all_shapes();
        shapes.push(testkit::frames::vxlan_tcp_frame());
        shapes.push(ethernet(ethertype::IPV6, &testkit::frames::ipv6(6, &testkit::frames::tcp(7, 8, b"segment"))));
        for (index, mut frame) in shapes.into_iter().enumerate() {
            let offsets = walk(&frame, &config).unwrap();
            for headers in [Some(&offsets.outer), offsets.inner.as_ref()].into_iter().flatten() {
                if let Some(l4) = headers.l4.filter(|l4| l4.kind == L4Kind::Udp) {
                    frame[l4.offset + 6] = 1;
                }
            }
            let mut lco = frame.clone();
            compute(&mut lco, &offsets, OuterMode::Lco, &policy);
            let mut offload = frame.clone();
            if let Some(request) = compute_offload(&mut offload, &offsets, &policy) {
                let innermost = offsets.inner.as_ref().unwrap_or(&offsets.outer);
                let field = request.start + request.offset;
                let partial = u16::from_be_bytes([offload[field], offload[field + 1]]);
                assert_eq!(partial, reference_pseudo(&offload, innermost), "shape {index}");
                assert_eq!(request.start, innermost.l4.unwrap().offset);
                let layer = if offsets.inner.is_some() { CsumLayer::InnerL4 } else { CsumLayer::OuterL4 };
                assert_eq!(verdicts(&offload, &offsets).get(layer), Status::Bad, "only a partial sum, shape {index}");
                complete(&mut offload, request);
                requested.push(index);
            }
            assert_eq!(offload, lco, "shape {index}");
            assert!(!verdicts(&offload, &offsets).0.contains(&Status::Bad), "shape {index}");
        }
        // UDP/IPv4, VLAN-tagged UDP/IPv6, TCP with IP options, VXLAN, Geneve over IPv4 and
        // IPv6, GRE with and without checksum, the IP-in-IP kinds, VXLAN with TCP, TCP/IPv6.
        assert_eq!(requested, vec![0, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], "which shapes were offloaded");
    }

    /// Where the device cannot be asked (padding after the packet, a UDP checksum of zero
    /// that stays zero, ICMP, a fragment), offload computes everything, as lco does.
    #[test]
    fn offload_falls_back_to_lco_where_the_device_cannot_be_asked() {
        let config = WalkConfig::default();
        let policy = ZeroPolicy::default();
        let shapes = [
            padded(udp4_frame(9, b"x"), 60),
            udp4_frame(9, b"x"), // its UDP checksum is 0 over IPv4: it stays 0
            ethernet(ethertype::IPV4, &ipv4(1, &testkit::frames::icmp_echo())),
            ethernet(ethertype::IPV6, &testkit::frames::srv6_fragment_payload()),
        ];
        for (index, frame) in shapes.into_iter().enumerate() {
            let offsets = walk(&frame, &config).unwrap();
            let mut lco = frame.clone();
            compute(&mut lco, &offsets, OuterMode::Lco, &policy);
            let mut offload = frame.clone();
            assert_eq!(compute_offload(&mut offload, &offsets, &policy), None, "shape {index}");
            assert_eq!(offload, lco, "shape {index}");
        }
    }

    proptest! {
        /// Any UDP or TCP payload over IPv4 or IPv6, plain or in VXLAN: offload and completion
        /// give lco's bytes.
        #[test]
        fn offload_then_completion_is_lco_for_any_payload(
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            tcp in any::<bool>(),
            v6 in any::<bool>(),
            tunnel in any::<bool>(),
        ) {
            use testkit::frames::{ipv6, tcp as tcp_segment};
            let l4 = if tcp { tcp_segment(1000, 80, &payload) } else { udp(1000, 53, &payload) };
            let protocol = if tcp { 6 } else { 17 };
            let packet = if v6 { ethernet(ethertype::IPV6, &ipv6(protocol, &l4)) } else { ethernet(ethertype::IPV4, &ipv4(protocol, &l4)) };
            let frame = if tunnel {
                ethernet(ethertype::IPV4, &ipv4(17, &udp(5555, 4789, &testkit::frames::vxlan(42, &packet))))
            } else {
                packet
            };
            let offsets = walk(&frame, &WalkConfig::default()).unwrap();
            let policy = ZeroPolicy::default();
            let mut lco = frame.clone();
            compute(&mut lco, &offsets, OuterMode::Lco, &policy);
            let mut offload = frame.clone();
            if let Some(request) = compute_offload(&mut offload, &offsets, &policy) {
                complete(&mut offload, request);
            } else {
                prop_assert!(!tcp && !v6, "only a zero IPv4 UDP checksum is kept");
            }
            prop_assert_eq!(offload, lco);
        }
    }

    proptest! {
        /// Damaged bytes (lengths, addresses, checksums) under the offsets of the undamaged
        /// frame, and shortened offsets: wherever the shortcut answers, the general code agrees.
        #[test]
        fn shortcut_on_damaged_frames(
            shape in any::<prop::sample::Index>(),
            damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            cut in any::<prop::sample::Index>(),
            shrink_l3_end in 0usize..40,
            udp_len in prop::option::of(0u16..120),
            zero_udp_checksum in any::<bool>(),
        ) {
            let mut shapes = fixed_shapes();
            let (mut frame, mut offsets) = shapes.swap_remove(shape.index(shapes.len()));
            for (at, byte) in damage {
                let at = at.index(frame.len());
                frame[at] = byte;
            }
            if let Some(l4) = offsets.outer.l4.filter(|l4| l4.kind == L4Kind::Udp) {
                if let Some(len) = udp_len {
                    frame[l4.offset + 4..l4.offset + 6].copy_from_slice(&len.to_be_bytes());
                }
                if zero_udp_checksum {
                    frame[l4.offset + 6..l4.offset + 8].fill(0);
                }
            }
            check_shortcut(&frame, &offsets);
            for headers in [Some(&mut offsets.outer), offsets.inner.as_mut()].into_iter().flatten() {
                if let Some(l3) = headers.l3.as_mut() {
                    l3.end = l3.end.saturating_sub(shrink_l3_end);
                }
            }
            check_shortcut(&frame, &offsets);
            frame.truncate(cut.index(frame.len() + 1));
            check_shortcut(&frame, &offsets);
        }
    }
}
