//! Parse errors in the etherparse manner: which layer, where, what length (or value) was
//! needed and what was there.

use core::fmt;

use crate::layer::Layer;

/// Why a header could not be parsed. [`ErrorKind::name`] is stable: it names the drop-reason
/// counter and appears in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The bytes end (at the buffer, or at the end the enclosing header declares) before the
    /// header does.
    Truncated,
    /// The IP version field disagrees with the EtherType or protocol that announced it.
    BadVersion,
    /// IPv4 IHL below 5 (RFC 791 §3.1).
    BadIhl,
    /// IPv4 total length below the header length or beyond the bytes present (RFC 791 §3.1).
    BadTotalLength,
    /// IPv6 payload length beyond the bytes present, or 0 with a hop-by-hop header (a
    /// jumbogram, RFC 2675, which we do not accept).
    BadPayloadLength,
    /// UDP length below 8 or beyond the IP payload (RFC 768).
    BadUdpLength,
    /// TCP data offset below 5 or beyond the IP payload (RFC 9293 §3.1).
    BadTcpOffset,
    /// VXLAN I flag clear (RFC 7348 §5).
    BadVxlanFlags,
    /// GRE reserved bits 1-5 set, other than K and S (RFC 2784 §2.3, RFC 2890 §2).
    BadGreFlags,
    /// GRE version not 0 (RFC 2784 §2.3.1).
    BadGreVersion,
    /// Geneve version not 0 (RFC 8926 §3.4).
    BadGeneveVersion,
    /// A Geneve option runs past the options length (RFC 8926 §3.5).
    BadGeneveOptions,
    /// A hop-by-hop options header anywhere but right after the IPv6 header (RFC 8200 §4.3).
    BadExtHeaderOrder,
    /// More VLAN tags than [`super::MAX_VLANS`].
    TooManyVlans,
    /// More IPv6 extension headers than [`super::ipv6_ext::MAX_EXT_HEADERS`].
    TooManyExtHeaders,
}

impl ErrorKind {
    /// Every kind, in declaration order, for registering counters up front.
    pub const ALL: [ErrorKind; 15] = [
        ErrorKind::Truncated,
        ErrorKind::BadVersion,
        ErrorKind::BadIhl,
        ErrorKind::BadTotalLength,
        ErrorKind::BadPayloadLength,
        ErrorKind::BadUdpLength,
        ErrorKind::BadTcpOffset,
        ErrorKind::BadVxlanFlags,
        ErrorKind::BadGreFlags,
        ErrorKind::BadGreVersion,
        ErrorKind::BadGeneveVersion,
        ErrorKind::BadGeneveOptions,
        ErrorKind::BadExtHeaderOrder,
        ErrorKind::TooManyVlans,
        ErrorKind::TooManyExtHeaders,
    ];

    /// The stable snake_case name (drop-reason counters, JSON).
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::Truncated => "truncated",
            ErrorKind::BadVersion => "bad_version",
            ErrorKind::BadIhl => "bad_ihl",
            ErrorKind::BadTotalLength => "bad_total_length",
            ErrorKind::BadPayloadLength => "bad_payload_length",
            ErrorKind::BadUdpLength => "bad_udp_length",
            ErrorKind::BadTcpOffset => "bad_tcp_offset",
            ErrorKind::BadVxlanFlags => "bad_vxlan_flags",
            ErrorKind::BadGreFlags => "bad_gre_flags",
            ErrorKind::BadGreVersion => "bad_gre_version",
            ErrorKind::BadGeneveVersion => "bad_geneve_version",
            ErrorKind::BadGeneveOptions => "bad_geneve_options",
            ErrorKind::BadExtHeaderOrder => "bad_ext_header_order",
            ErrorKind::TooManyVlans => "too_many_vlans",
            ErrorKind::TooManyExtHeaders => "too_many_ext_headers",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A header that failed `new_checked`. `offset` is relative to the buffer the view was given
/// (the start of the header, or of the option or extension header at fault).
///
/// For length kinds `needed` and `available` are byte counts; for value kinds (versions,
/// flags) `needed` is the value expected and `available` the value found; for the "too many"
/// kinds they are the limit and the count found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WireError {
    /// What is wrong.
    pub kind: ErrorKind,
    /// The header at fault.
    pub layer: Layer,
    /// Where it starts: from the start of the view's buffer ([`WireError`]) or of the frame
    /// ([`WalkError`]).
    pub offset: usize,
    /// The bytes (or the value, or the limit) needed.
    pub needed: usize,
    /// The bytes (or the value, or the count) found.
    pub available: usize,
}

impl WireError {
    /// An error of `kind` in `layer`'s header at `offset`.
    #[inline]
    pub(crate) const fn new(kind: ErrorKind, layer: Layer, offset: usize, needed: usize, available: usize) -> Self {
        WireError { kind, layer, offset, needed, available }
    }

    /// The same error with `offset` moved by `by` bytes (for a view inside a larger buffer).
    #[inline]
    pub(crate) const fn shifted(self, by: usize) -> Self {
        WireError { offset: self.offset + by, ..self }
    }

    /// The error as [`walk`](super::walk) reports it: the view started at frame offset `base`.
    #[inline]
    pub const fn at(self, base: usize) -> WalkError {
        WalkError {
            kind: self.kind,
            layer: self.layer,
            offset: base + self.offset,
            needed: self.needed,
            available: self.available,
        }
    }
}

/// Checks that `buffer` holds at least `needed` bytes for `layer`'s header.
#[inline]
pub(crate) fn check_len(layer: Layer, buffer: &[u8], needed: usize) -> Result<(), WireError> {
    if buffer.len() < needed {
        Err(WireError::new(ErrorKind::Truncated, layer, 0, needed, buffer.len()))
    } else {
        Ok(())
    }
}

/// A frame [`walk`](super::walk) could not parse to the end. `offset` is from the start of
/// the frame; `needed` and `available` mean what they mean in [`WireError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WalkError {
    /// What is wrong.
    pub kind: ErrorKind,
    /// The header at fault.
    pub layer: Layer,
    /// Where it starts: from the start of the view's buffer ([`WireError`]) or of the frame
    /// ([`WalkError`]).
    pub offset: usize,
    /// The bytes (or the value, or the limit) needed.
    pub needed: usize,
    /// The bytes (or the value, or the count) found.
    pub available: usize,
}

fn describe(f: &mut fmt::Formatter<'_>, kind: ErrorKind, needed: usize, available: usize) -> fmt::Result {
    match kind {
        ErrorKind::Truncated => write!(f, "header needs {needed} bytes, {available} available"),
        ErrorKind::BadVersion => write!(f, "version {available}, expected {needed}"),
        ErrorKind::BadIhl => write!(f, "IHL gives a {available}-byte header, at least {needed} needed"),
        ErrorKind::BadTotalLength => write!(f, "total length needs {needed} bytes, {available} available"),
        ErrorKind::BadPayloadLength => write!(f, "payload length needs {needed} bytes, {available} available"),
        ErrorKind::BadUdpLength => write!(f, "UDP length needs {needed} bytes, {available} available"),
        ErrorKind::BadTcpOffset => write!(f, "data offset needs {needed} bytes, {available} available"),
        ErrorKind::BadVxlanFlags => write!(f, "flags {available:#04x}, I flag ({needed:#04x}) required"),
        ErrorKind::BadGreFlags => write!(f, "flags {available:#06x} set reserved bits"),
        ErrorKind::BadGreVersion => write!(f, "version {available}, expected {needed}"),
        ErrorKind::BadGeneveVersion => write!(f, "version {available}, expected {needed}"),
        ErrorKind::BadGeneveOptions => write!(f, "option needs {needed} bytes, {available} left in the options"),
        ErrorKind::BadExtHeaderOrder => write!(f, "hop-by-hop options header not first (header number {available})"),
        ErrorKind::TooManyVlans => write!(f, "{available} VLAN tags, at most {needed}"),
        ErrorKind::TooManyExtHeaders => write!(f, "{available} extension headers, at most {needed}"),
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {} of its buffer: ", self.layer, self.offset)?;
        describe(f, self.kind, self.needed, self.available)
    }
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}: ", self.layer, self.offset)?;
        describe(f, self.kind, self.needed, self.available)
    }
}

impl std::error::Error for WireError {}
impl std::error::Error for WalkError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_says_layer_offset_needed_and_available() {
        let error = WireError::new(ErrorKind::Truncated, Layer::Ipv4, 0, 20, 12).at(14);
        assert_eq!(error.to_string(), "ipv4 at offset 14: header needs 20 bytes, 12 available");
    }

    #[test]
    fn names_are_unique_snake_case() {
        for (i, a) in ErrorKind::ALL.iter().enumerate() {
            assert!(a.name().chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{}", a.name());
            for b in &ErrorKind::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
    }
}
