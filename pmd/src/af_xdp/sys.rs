//! The AF_XDP socket system calls and `<linux/if_xdp.h>` layouts.
//!
//! The socket options are reached only through this crate: `XDP_UMEM_REG` with an arbitrary
//! address would let the kernel write anywhere in the process, so the generic option calls
//! are `pub(crate)` and bounded by [`bytemuck::Pod`] (every byte pattern the kernel writes is
//! a valid value, and no padding is read), and [`super::XskSocket`] is the one caller.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use bytemuck::{Pod, Zeroable};

/// `AF_XDP` address family.
pub const AF_XDP: i32 = 44;
/// `SOL_XDP` socket option level.
pub const SOL_XDP: i32 = 283;

// Socket options (level SOL_XDP).
/// Where the four rings sit in their mappings (`struct xdp_mmap_offsets`).
pub const XDP_MMAP_OFFSETS: i32 = 1;
/// Sets the rx ring's entries.
pub const XDP_RX_RING: i32 = 2;
/// Sets the tx ring's entries.
pub const XDP_TX_RING: i32 = 3;
/// Registers a UMEM (`struct xdp_umem_reg`).
pub const XDP_UMEM_REG: i32 = 4;
/// Sets the fill ring's entries.
pub const XDP_UMEM_FILL_RING: i32 = 5;
/// Sets the completion ring's entries.
pub const XDP_UMEM_COMPLETION_RING: i32 = 6;
/// Reads `struct xdp_statistics`.
pub const XDP_STATISTICS: i32 = 7;
/// Reads `struct xdp_options` (the zero-copy bit).
pub const XDP_OPTIONS: i32 = 8;
/// Linux 6.17+: how many frames one `sendto` may turn into skbs in copy mode (default 32).
pub const XDP_MAX_TX_SKB_BUDGET: i32 = 9;

// bind() flags (`sxdp_flags`).
/// Bind over the UMEM another socket registered.
pub const XDP_SHARED_UMEM: u16 = 1 << 0;
/// Bind in copy mode.
pub const XDP_COPY: u16 = 1 << 1;
/// Bind in zero-copy mode.
pub const XDP_ZEROCOPY: u16 = 1 << 2;
/// Asks the kernel to set `XDP_RING_NEED_WAKEUP` on a ring while it waits for a system call.
pub const XDP_USE_NEED_WAKEUP: u16 = 1 << 3;
/// Multi-buffer: a frame larger than one chunk arrives (and may be sent) as several
/// descriptors, `XDP_PKT_CONTD` on all but the last. Only the socket that registers the UMEM
/// gives it; sockets sharing the UMEM inherit it (net/xdp/xsk.c `xsk_bind`).
pub const XDP_USE_SG: u16 = 1 << 4;

// `struct xdp_umem_reg` flags.
/// The kernel completes a requested TX checksum itself, on the CPU (copy mode; meant for
/// testing, or devices without checksum offload).
pub const XDP_UMEM_TX_SW_CSUM: u32 = 1 << 1;
/// `tx_metadata_len` is meant: reserve that many bytes of TX metadata before each frame's
/// data (Linux 6.11, and 6.8+ stable kernels; without the flag the length is ignored).
pub const XDP_UMEM_TX_METADATA_LEN: u32 = 1 << 2;

/// `struct xsk_tx_metadata` flag: complete the checksum at `csum_start + csum_offset`.
pub const XDP_TXMD_FLAGS_CHECKSUM: u64 = 1 << 1;

/// `struct xsk_tx_metadata` (Linux 6.8+), in the `tx_metadata_len` bytes just before a
/// frame's data when its tx descriptor has `XDP_TX_METADATA`: the request half of its union
/// (a checksum to complete; `launch_time` for `XDP_TXMD_FLAGS_LAUNCH_TIME`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct XskTxMetadata {
    /// `XDP_TXMD_FLAGS_*`.
    pub flags: u64,
    /// Where the checksummed bytes start, from the frame's first data byte.
    pub csum_start: u16,
    /// Where the checksum goes, from `csum_start`.
    pub csum_offset: u16,
    /// Zero.
    pub reserved: u32,
    /// For `XDP_TXMD_FLAGS_LAUNCH_TIME` (unused here).
    pub launch_time: u64,
}

/// The `tx_metadata_len` a UMEM is registered with: `sizeof(struct xsk_tx_metadata)` (the
/// kernel wants a multiple of 8 below 256).
pub const TX_METADATA_LEN: usize = size_of::<XskTxMetadata>();
const _: () = assert!(TX_METADATA_LEN == 24 && TX_METADATA_LEN.is_multiple_of(8));

/// `XDP_OPTIONS` result bit: the socket runs in zero-copy mode.
pub const XDP_OPTIONS_ZEROCOPY: u32 = 1 << 0;

// mmap page offsets of the four rings.
/// mmap offset of the rx ring.
pub const XDP_PGOFF_RX_RING: u64 = 0;
/// mmap offset of the tx ring.
pub const XDP_PGOFF_TX_RING: u64 = 0x8000_0000;
/// mmap offset of the fill ring.
pub const XDP_UMEM_PGOFF_FILL_RING: u64 = 0x1_0000_0000;
/// mmap offset of the completion ring.
pub const XDP_UMEM_PGOFF_COMPLETION_RING: u64 = 0x1_8000_0000;

/// `struct xdp_umem_reg` (with the 6.8+ `tx_metadata_len`; older kernels accept the
/// shorter prefix, so we pass the size they know when they refuse the long one).
#[repr(C)]
#[derive(Clone, Copy, Default, Pod, Zeroable)]
pub struct XdpUmemReg {
    /// Start of the area.
    pub addr: u64,
    /// Bytes of the area.
    pub len: u64,
    /// Bytes per chunk (frame).
    pub chunk_size: u32,
    /// Bytes the kernel leaves free before received data, beyond its own headroom.
    pub headroom: u32,
    /// `XDP_UMEM_*` flags (0: aligned chunks).
    pub flags: u32,
    /// Bytes of tx metadata before each frame (Linux 6.8+; 0: none).
    pub tx_metadata_len: u32,
}

/// `struct xdp_ring_offset`: where one ring's parts sit in its mapping.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct XdpRingOffset {
    /// Offset of the producer index.
    pub producer: u64,
    /// Offset of the consumer index.
    pub consumer: u64,
    /// Offset of the descriptor array.
    pub desc: u64,
    /// Offset of the flags word.
    pub flags: u64,
}

/// `struct xdp_mmap_offsets`: the four rings' offsets.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct XdpMmapOffsets {
    /// The rx ring.
    pub rx: XdpRingOffset,
    /// The tx ring.
    pub tx: XdpRingOffset,
    /// The fill ring.
    pub fr: XdpRingOffset,
    /// The completion ring.
    pub cr: XdpRingOffset,
}

/// `struct xdp_statistics`: what the kernel dropped or could not do for one socket.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct XdpStatistics {
    /// Dropped for other reasons.
    pub rx_dropped: u64,
    /// Received frames dropped for an invalid descriptor.
    pub rx_invalid_descs: u64,
    /// Frames to send dropped for an invalid descriptor.
    pub tx_invalid_descs: u64,
    /// Dropped because the rx ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring had no frame to receive into.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the tx ring had nothing to send.
    pub tx_ring_empty_descs: u64,
}

#[repr(C)]
struct SockaddrXdp {
    sxdp_family: u16,
    sxdp_flags: u16,
    sxdp_ifindex: u32,
    sxdp_queue_id: u32,
    sxdp_shared_umem_fd: u32,
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A new AF_XDP socket (close-on-exec).
pub fn socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments.
    let fd = check(unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// setsockopt(SOL_XDP, name) with a plain-old-data value.
pub(crate) fn set_option<T: Pod>(fd: &OwnedFd, name: i32, value: &T) -> io::Result<()> {
    set_option_bytes(fd, name, bytemuck::bytes_of(value))
}

/// setsockopt(SOL_XDP, name) with the bytes of a value (a prefix of a longer struct, for
/// kernels that know only its first fields).
pub(crate) fn set_option_bytes(fd: &OwnedFd, name: i32, value: &[u8]) -> io::Result<()> {
    // SAFETY: `value` is `value.len()` readable, initialised bytes; the kernel only reads them.
    check(unsafe {
        libc::setsockopt(fd.as_raw_fd(), SOL_XDP, name, value.as_ptr().cast(), value.len() as libc::socklen_t)
    })
    .map(drop)
}

/// getsockopt(SOL_XDP, name) into a zeroed plain-old-data value.
pub(crate) fn get_option<T: Pod>(fd: RawFd, name: i32) -> io::Result<T> {
    let mut value = T::zeroed();
    let bytes = bytemuck::bytes_of_mut(&mut value);
    let mut len = bytes.len() as libc::socklen_t;
    // SAFETY: `bytes` is writable for `len` bytes; the kernel writes at most `len` bytes
    // (and reports how many), and any bytes are a valid `T` (`T: Pod`).
    check(unsafe { libc::getsockopt(fd, SOL_XDP, name, bytes.as_mut_ptr().cast(), &mut len) })?;
    Ok(value)
}

// Socket options of level SOL_SOCKET for preferred busy polling (include/uapi/asm-generic/socket.h).
/// How long one busy poll may spin, in microseconds.
pub const SO_BUSY_POLL: i32 = 46;
/// The NAPI instance the socket's frames come from (read only).
pub const SO_INCOMING_NAPI_ID: i32 = 56;
/// Busy polls defer the device's interrupts (Linux 5.11+).
pub const SO_PREFER_BUSY_POLL: i32 = 69;
/// Frames one busy poll may take (Linux 5.11+; raising it needs CAP_NET_ADMIN).
pub const SO_BUSY_POLL_BUDGET: i32 = 70;

/// setsockopt(SOL_SOCKET, name) with an int, as the busy-poll options take.
pub(crate) fn set_socket_int(fd: &OwnedFd, name: i32, value: i32) -> io::Result<()> {
    let bytes = value.to_ne_bytes();
    // SAFETY: `bytes` is 4 readable, initialised bytes; the kernel only reads them.
    check(unsafe {
        libc::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, name, bytes.as_ptr().cast(), bytes.len() as libc::socklen_t)
    })
    .map(drop)
}

/// getsockopt(SOL_SOCKET, name) of an unsigned int (`SO_INCOMING_NAPI_ID`).
pub(crate) fn get_socket_u32(fd: RawFd, name: i32) -> io::Result<u32> {
    let mut value = 0u32;
    let mut len = size_of::<u32>() as libc::socklen_t;
    // SAFETY: `value` is writable for `len` bytes; the kernel writes at most `len` bytes.
    check(unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, name, (&mut value as *mut u32).cast(), &mut len) })?;
    Ok(value)
}

/// bind(2) of an AF_XDP socket; with `XDP_SHARED_UMEM` the socket uses the UMEM registered
/// on `shared_umem_fd`, so only [`super::XskSocket::create`] (which checks that UMEM is the
/// one its rings carry frames of) calls it.
pub(crate) fn bind(
    fd: &OwnedFd,
    ifindex: u32,
    queue: u32,
    flags: u16,
    shared_umem_fd: Option<RawFd>,
) -> io::Result<()> {
    let addr = SockaddrXdp {
        sxdp_family: AF_XDP as u16,
        sxdp_flags: flags,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: shared_umem_fd.map_or(0, |fd| fd as u32),
    };
    // SAFETY: `addr` is a valid sockaddr_xdp of the size passed.
    check(unsafe {
        libc::bind(fd.as_raw_fd(), (&addr as *const SockaddrXdp).cast(), size_of::<SockaddrXdp>() as libc::socklen_t)
    })
    .map(drop)
}

/// Wakes the kernel to transmit what is in the tx ring (copy mode sends from here).
/// Returns false on the benign "try again" errors (busy, no buffers, budget used up).
#[inline]
pub fn kick_tx(fd: RawFd) -> io::Result<bool> {
    // SAFETY: a zero-length sendto with null buffers is the documented AF_XDP wakeup.
    let ret = unsafe { libc::sendto(fd, std::ptr::null(), 0, libc::MSG_DONTWAIT, std::ptr::null(), 0) };
    if ret >= 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::ENETDOWN) => Ok(false),
        _ => Err(err),
    }
}

/// Wakes the kernel to look at the fill ring (zero-copy drivers sleep when it ran dry).
#[inline]
pub fn kick_rx(fd: RawFd) {
    // SAFETY: a zero-length non-blocking recvfrom with null buffers is the documented wakeup.
    unsafe {
        libc::recvfrom(fd, std::ptr::null_mut(), 0, libc::MSG_DONTWAIT, std::ptr::null_mut(), std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `struct xsk_tx_metadata` as include/uapi/linux/if_xdp.h lays it out: `__u64 flags`,
    /// then the union's request: `__u16 csum_start`, `__u16 csum_offset`, `__u32 reserved`,
    /// `__u64 launch_time`; 24 bytes, native byte order.
    #[test]
    fn tx_metadata_has_the_kernel_layout() {
        let meta = XskTxMetadata {
            flags: XDP_TXMD_FLAGS_CHECKSUM,
            csum_start: 0x0122,
            csum_offset: 6,
            reserved: 0,
            launch_time: 0x1122_3344_5566_7788,
        };
        let bytes = bytemuck::bytes_of(&meta);
        assert_eq!(bytes.len(), 24);
        assert_eq!(bytes[0..8], 2u64.to_ne_bytes());
        assert_eq!(bytes[8..10], 0x0122u16.to_ne_bytes());
        assert_eq!(bytes[10..12], 6u16.to_ne_bytes());
        assert_eq!(bytes[12..16], [0; 4]);
        assert_eq!(bytes[16..24], 0x1122_3344_5566_7788u64.to_ne_bytes());
        // The flag values of the UAPI header.
        assert_eq!((XDP_UMEM_TX_SW_CSUM, XDP_UMEM_TX_METADATA_LEN), (2, 4));
        assert_eq!(umem::ring::XDP_TX_METADATA, 2);
        // `struct xdp_umem_reg` with tx_metadata_len: 32 bytes, the length last.
        assert_eq!(size_of::<XdpUmemReg>(), 32);
        let reg = XdpUmemReg { tx_metadata_len: 24, ..Default::default() };
        assert_eq!(bytemuck::bytes_of(&reg)[28..32], 24u32.to_ne_bytes());
    }
}
