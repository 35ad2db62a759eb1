//! The kernel's `netdev` generic-netlink family (Documentation/netlink/specs/netdev.yaml),
//! asked two things of a device (net/core/netdev-genl.c, `netdev_nl_dev_fill`):
//!
//! * which XDP RX metadata kfuncs it implements (`xdp-rx-metadata-features`, Linux 6.8+,
//!   from the driver's `xdp_metadata_ops`), for the RX hints;
//! * which AF_XDP TX metadata requests its driver acts on in zero-copy mode
//!   (`xsk-features`, Linux 6.8+: `tx-checksum` where the driver has
//!   `tmo_request_checksum`), for `--csum offload`. In copy mode the kernel's skb path acts
//!   on them for every device.
//!
//! No netlink library: one request to resolve the family's id, one `dev-get`, each answer
//! parsed with bounds checks (`struct nlmsghdr`, `genlmsghdr`, `nlattr`: netlink.h,
//! genetlink.h).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `xdp-rx-metadata` flags: the device has `xmo_rx_timestamp`.
pub const RX_METADATA_TIMESTAMP: u64 = 1 << 0;
/// The device has `xmo_rx_hash`.
pub const RX_METADATA_HASH: u64 = 1 << 1;
/// The device has `xmo_rx_vlan_tag`.
pub const RX_METADATA_VLAN_TAG: u64 = 1 << 2;
/// `NETDEV_XSK_FLAGS_TX_CHECKSUM` (include/uapi/linux/netdev.h): the driver completes the
/// checksum a TX metadata request asks for.
pub const XSK_FLAGS_TX_CHECKSUM: u64 = 1 << 1;

const NETLINK_GENERIC: i32 = 16;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const NETDEV_CMD_DEV_GET: u8 = 1;
const NETDEV_A_DEV_IFINDEX: u16 = 1;
const NETDEV_A_DEV_XDP_RX_METADATA_FEATURES: u16 = 5;
const NETDEV_A_DEV_XSK_FEATURES: u16 = 6;
const NLM_F_REQUEST: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_HDR: usize = 16;
const GENL_HDR: usize = 4;
const NLA_HDR: usize = 4;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A request: netlink header, generic-netlink header, attributes.
fn request(family: u16, cmd: u8, seq: u32, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut msg = vec![0u8; NLMSG_HDR];
    msg.extend([cmd, 1, 0, 0]);
    for (kind, payload) in attrs {
        msg.extend(((NLA_HDR + payload.len()) as u16).to_ne_bytes());
        msg.extend(kind.to_ne_bytes());
        msg.extend(*payload);
        msg.resize(align4(msg.len()), 0);
    }
    let len = msg.len() as u32;
    msg[0..4].copy_from_slice(&len.to_ne_bytes());
    msg[4..6].copy_from_slice(&family.to_ne_bytes());
    msg[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    msg[8..12].copy_from_slice(&seq.to_ne_bytes());
    msg
}

/// The attributes of the first message of a reply (its error, if it is one).
fn reply_attrs(reply: &[u8]) -> io::Result<Vec<(u16, &[u8])>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "a netlink reply cut short");
    let header = reply.get(..NLMSG_HDR).ok_or_else(bad)?;
    let len = u32::from_ne_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
    let kind = u16::from_ne_bytes(header[4..6].try_into().expect("2 bytes"));
    let body = reply.get(NLMSG_HDR..len).ok_or_else(bad)?;
    if kind == NLMSG_ERROR {
        let errno = i32::from_ne_bytes(body.get(..4).ok_or_else(bad)?.try_into().expect("4 bytes"));
        return Err(io::Error::from_raw_os_error(-errno));
    }
    let mut attrs = Vec::new();
    let mut rest = body.get(GENL_HDR..).ok_or_else(bad)?;
    while rest.len() >= NLA_HDR {
        let attr_len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let attr_kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if attr_len < NLA_HDR || attr_len > rest.len() {
            return Err(bad());
        }
        attrs.push((attr_kind, &rest[NLA_HDR..attr_len]));
        rest = rest.get(align4(attr_len)..).unwrap_or(&[]);
    }
    Ok(attrs)
}

struct GenlSocket {
    fd: OwnedFd,
    seq: u32,
}

impl GenlSocket {
    fn open() -> io::Result<GenlSocket> {
        // SAFETY: plain socket(2); the result is checked before it is owned.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, NETLINK_GENERIC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nobody else owns.
        Ok(GenlSocket { fd: unsafe { OwnedFd::from_raw_fd(fd) }, seq: 0 })
    }

    /// Sends one request and reads its reply into `buf`; returns the reply's length.
    fn ask(&mut self, family: u16, cmd: u8, attrs: &[(u16, &[u8])], buf: &mut [u8]) -> io::Result<usize> {
        self.seq += 1;
        let msg = request(family, cmd, self.seq, attrs);
        // SAFETY: an all-zero sockaddr_nl is valid; we set its family (pid 0: the kernel).
        let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        to.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: msg and `to` are live for the call, with the lengths given.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&to as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: buf is writable for its length for the call.
        let got = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(got as usize)
    }
}

/// The `xdp-rx-metadata-features` of interface `ifindex` (in the calling thread's network
/// namespace): a mask of `RX_METADATA_*`. `Ok(None)`: the kernel does not say (no `netdev`
/// family, or one before Linux 6.8 without the attribute).
pub fn xdp_rx_metadata_features(ifindex: u32) -> io::Result<Option<u64>> {
    dev_get_u64(ifindex, NETDEV_A_DEV_XDP_RX_METADATA_FEATURES)
}

/// The `xsk-features` of interface `ifindex`: `XSK_FLAGS_*` bits. An error where the kernel
/// does not say (no `netdev` family before Linux 6.3, no attribute before 6.8).
pub fn xsk_features(ifindex: u32) -> io::Result<u64> {
    dev_get_u64(ifindex, NETDEV_A_DEV_XSK_FEATURES)?
        .ok_or_else(|| io::Error::other("the kernel does not report xsk-features (Linux 6.8+)"))
}

/// A 64-bit attribute of `dev-get` for interface `ifindex`; `Ok(None)` where the kernel has
/// no `netdev` family or does not send the attribute.
fn dev_get_u64(ifindex: u32, which: u16) -> io::Result<Option<u64>> {
    let mut socket = GenlSocket::open()?;
    let mut buf = vec![0u8; 8192];
    let len = socket.ask(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, &[(CTRL_ATTR_FAMILY_NAME, b"netdev\0")], &mut buf)?;
    let family = match reply_attrs(&buf[..len]) {
        Ok(attrs) => attrs.iter().find(|(kind, _)| *kind == CTRL_ATTR_FAMILY_ID).and_then(|(_, v)| {
            let bytes: [u8; 2] = v.get(..2)?.try_into().ok()?;
            Some(u16::from_ne_bytes(bytes))
        }),
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => None,
        Err(err) => return Err(err),
    };
    let Some(family) = family else { return Ok(None) };
    let len = socket.ask(family, NETDEV_CMD_DEV_GET, &[(NETDEV_A_DEV_IFINDEX, &ifindex.to_ne_bytes())], &mut buf)?;
    let attrs = reply_attrs(&buf[..len])?;
    Ok(attrs.iter().find(|(kind, _)| *kind == which).and_then(|(_, v)| {
        let bytes: [u8; 8] = v.get(..8)?.try_into().ok()?;
        Some(u64::from_ne_bytes(bytes))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::{require_root, Netns};

    #[test]
    fn requests_are_laid_out_as_netlink_wants() {
        let msg = request(0x10, 3, 7, &[(2, b"netdev\0")]);
        assert_eq!(msg.len(), 16 + 4 + 4 + 8, "a 7-byte attribute padded to 8");
        assert_eq!(&msg[0..4], &(msg.len() as u32).to_ne_bytes());
        assert_eq!(&msg[16..20], &[3, 1, 0, 0]);
        assert_eq!(&msg[20..22], &11u16.to_ne_bytes(), "attribute length counts its header, not the padding");
    }

    #[test]
    fn short_and_error_replies_are_errors() {
        assert!(reply_attrs(&[0; 8]).is_err());
        let mut error = request(NLMSG_ERROR, 0, 1, &[]);
        error[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        error[16..20].copy_from_slice(&(-libc::ENODEV).to_ne_bytes());
        assert_eq!(reply_attrs(&error).unwrap_err().raw_os_error(), Some(libc::ENODEV));
        let mut garbled = request(0x20, 1, 1, &[(5, &[0; 8])]);
        garbled[20..22].copy_from_slice(&200u16.to_ne_bytes());
        assert!(reply_attrs(&garbled).is_err(), "an attribute longer than the message");
    }

    #[test]
    fn veth_implements_every_metadata_kfunc_and_loopback_none() {
        if !require_root("veth_implements_every_metadata_kfunc_and_loopback_none") {
            return;
        }
        let netns = Netns::with_veth_pair("hi");
        netns.run(|| {
            let all = RX_METADATA_TIMESTAMP | RX_METADATA_HASH | RX_METADATA_VLAN_TAG;
            let veth = xdp_rx_metadata_features(bpf::ifindex("veth0").unwrap()).unwrap();
            assert_eq!(veth, Some(all), "veth_xdp_metadata_ops has all three (Linux 6.8+)");
            assert_eq!(xdp_rx_metadata_features(1).unwrap(), Some(0), "loopback has no xdp_metadata_ops");
            let err = xdp_rx_metadata_features(999_999).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENODEV), "{err}");
        });
    }

    /// veth has no `xsk_tx_metadata_ops`: the kernel answers, with no flag set.
    #[test]
    fn veth_reports_no_xsk_tx_features() {
        if !require_root("veth_reports_no_xsk_tx_features") {
            return;
        }
        let netns = Netns::with_veth_pair("ofnl");
        netns.run(|| {
            let ifindex = bpf::ifindex("veth0").unwrap();
            assert_eq!(xsk_features(ifindex).unwrap(), 0);
            // The attribute numbers are the UAPI's: veth does have XDP features (3).
            assert_ne!(dev_get_u64(ifindex, 3).unwrap(), Some(0), "xdp-features");
            let err = xsk_features(1_000_000).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENODEV), "{err}");
        });
    }
}
