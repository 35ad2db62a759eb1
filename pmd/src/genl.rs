//! One question to the kernel's `netdev` generic netlink family (Linux 6.8+,
//! Documentation/netlink/specs/netdev.yaml): which AF_XDP TX metadata requests a device's
//! driver acts on in zero-copy mode (`xsk-features`). In copy mode the kernel's skb path acts
//! on them for every device; in zero-copy only a driver with `xsk_tx_metadata_ops` does
//! (`netdev_nl_dev_fill` in net/core/netdev-genl.c sets `tx-checksum` where the driver has
//! `tmo_request_checksum`).
//!
//! The messages are built by hand (`struct nlmsghdr`, `struct genlmsghdr`, `struct nlattr`,
//! include/uapi/linux/netlink.h and genetlink.h), as `ip` and `ynl` build them: resolve the
//! family's id by name through `nlctrl`, then `dev-get` with the interface index.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `NETDEV_XSK_FLAGS_TX_CHECKSUM` (include/uapi/linux/netdev.h): the driver completes the
/// checksum a TX metadata request asks for.
pub const XSK_FLAGS_TX_CHECKSUM: u64 = 2;

const NETLINK_GENERIC: i32 = 16;
const NLM_F_REQUEST: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const NETDEV_CMD_DEV_GET: u8 = 1;
const NETDEV_A_DEV_IFINDEX: u16 = 1;
const NETDEV_A_DEV_XSK_FEATURES: u16 = 6;
const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;

/// The `xsk-features` of the interface `ifindex` (in this network namespace):
/// `NETDEV_XSK_FLAGS_*` bits. An error where the kernel has no `netdev` family (before 6.3)
/// or does not report the attribute (before 6.8).
pub fn xsk_features(ifindex: u32) -> io::Result<u64> {
    dev_u64(ifindex, NETDEV_A_DEV_XSK_FEATURES)
}

/// A 64-bit attribute of `dev-get` for the interface `ifindex`.
fn dev_u64(ifindex: u32, which: u16) -> io::Result<u64> {
    let socket = Socket::open()?;
    let family = socket.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, &attr(CTRL_ATTR_FAMILY_NAME, b"netdev\0"))?;
    let id = find_attr(&family, CTRL_ATTR_FAMILY_ID)
        .and_then(|v| v.get(..2))
        .map(|v| u16::from_ne_bytes([v[0], v[1]]))
        .ok_or_else(|| io::Error::other("nlctrl: no id for the netdev family"))?;
    let dev = socket.request(id, NETDEV_CMD_DEV_GET, &attr(NETDEV_A_DEV_IFINDEX, &ifindex.to_ne_bytes()))?;
    find_attr(&dev, which)
        .and_then(|v| v.get(..8))
        .map(|v| u64::from_ne_bytes(v.try_into().unwrap_or_default()))
        .ok_or_else(|| io::Error::other(format!("netdev dev-get: no attribute {which} (xsk-features: Linux 6.8+)")))
}

/// One attribute: `struct nlattr` and the value, padded to 4 bytes.
fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut out = Vec::with_capacity(len.next_multiple_of(4));
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(len.next_multiple_of(4), 0);
    out
}

/// The value of the first attribute of type `kind` in `attrs` (the bytes after a
/// `genlmsghdr`); nested and unknown ones are skipped.
fn find_attr(attrs: &[u8], kind: u16) -> Option<&[u8]> {
    let mut rest = attrs;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let found = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff; // without NLA_F_NESTED/NET_BYTEORDER
        if len < 4 || len > rest.len() {
            return None;
        }
        if found == kind {
            return Some(&rest[4..len]);
        }
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or(&[]);
    }
    None
}

struct Socket {
    fd: OwnedFd,
}

impl Socket {
    fn open() -> io::Result<Socket> {
        // SAFETY: plain syscall with constant arguments.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, NETLINK_GENERIC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
        Ok(Socket { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Sends one request (`cmd` of family `family`, version 1, with `attrs`) and returns the
    /// attributes of its answer.
    fn request(&self, family: u16, cmd: u8, attrs: &[u8]) -> io::Result<Vec<u8>> {
        let len = NLMSG_HDRLEN + GENL_HDRLEN + attrs.len();
        let mut message = Vec::with_capacity(len);
        message.extend_from_slice(&(len as u32).to_ne_bytes());
        message.extend_from_slice(&family.to_ne_bytes());
        message.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
        message.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
        message.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        message.extend_from_slice(&[cmd, 1, 0, 0]);
        message.extend_from_slice(attrs);
        // SAFETY: `message` is `message.len()` readable bytes; a null address sends to the
        // kernel (netlink's default destination).
        let sent = unsafe {
            libc::sendto(self.fd.as_raw_fd(), message.as_ptr().cast(), message.len(), 0, std::ptr::null(), 0)
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut answer = vec![0u8; 16 * 1024];
        // SAFETY: `answer` is writable for its length; the kernel writes at most that much.
        let got = unsafe { libc::recv(self.fd.as_raw_fd(), answer.as_mut_ptr().cast(), answer.len(), 0) };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        answer.truncate(got as usize);
        parse_answer(&answer)
    }
}

/// The attributes of the first message of a netlink answer, or the error it carries.
fn parse_answer(answer: &[u8]) -> io::Result<Vec<u8>> {
    let header = answer.get(..NLMSG_HDRLEN).ok_or_else(|| io::Error::other("netlink: short answer"))?;
    let len = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let kind = u16::from_ne_bytes([header[4], header[5]]);
    let body = answer.get(NLMSG_HDRLEN..len.min(answer.len())).unwrap_or(&[]);
    match kind {
        NLMSG_ERROR => {
            let code = body.get(..4).map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
            Err(io::Error::from_raw_os_error(-code))
        }
        NLMSG_DONE => Err(io::Error::other("netlink: an empty answer")),
        _ => Ok(body.get(GENL_HDRLEN..).unwrap_or(&[]).to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::{require_root, Netns};

    #[test]
    fn attributes_are_padded_and_found() {
        let mut attrs = attr(7, b"abc");
        // nla_len counts the header and the value, not the padding to 4 bytes.
        let want: Vec<u8> = [&7u16.to_ne_bytes()[..], &7u16.to_ne_bytes(), b"abc\0"].concat();
        assert_eq!(attrs, want);
        attrs.extend(attr(NETDEV_A_DEV_XSK_FEATURES, &2u64.to_ne_bytes()));
        assert_eq!(find_attr(&attrs, 7), Some(&b"abc"[..]));
        assert_eq!(find_attr(&attrs, NETDEV_A_DEV_XSK_FEATURES), Some(&2u64.to_ne_bytes()[..]));
        assert_eq!(find_attr(&attrs, 9), None);
        assert_eq!(find_attr(&[200, 0, 1, 0], 1), None, "a length past the buffer");
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
            // The attribute numbers are the UAPI's: veth does have XDP features (3) and the RX
            // metadata kfuncs (5: timestamp 1, hash 2, VLAN tag 4).
            assert_ne!(dev_u64(ifindex, 3).unwrap(), 0, "xdp-features");
            assert_eq!(dev_u64(ifindex, 5).unwrap(), 7, "xdp-rx-metadata-features");
            let err = xsk_features(1_000_000).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENODEV), "{err}");
        });
    }
}
