//! Attaching programs with bpf_link (BPF_LINK_CREATE).
//!
//! A link detaches when its last reference goes away: when the process closes the fd or
//! dies. So a crashed or killed dataplane leaves the interface as it found it, unlike the
//! netlink `ip link set xdp` attachment which outlives its loader. (Pin the link with
//! [`crate::pin`] to keep it attached on purpose.)

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::error::Error;
use crate::iface::ifname;
use crate::map::object_info;
use crate::prog::{ProgType, Program};
use crate::sys;
use crate::xdp_mode::XdpMode;

/// Which side of an interface a tcx program sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcxDirection {
    /// Packets the interface receives (`BPF_TCX_INGRESS`).
    Ingress,
    /// Packets the interface sends (`BPF_TCX_EGRESS`).
    Egress,
}

impl TcxDirection {
    const fn attach_type(self) -> u32 {
        match self {
            TcxDirection::Ingress => sys::BPF_TCX_INGRESS,
            TcxDirection::Egress => sys::BPF_TCX_EGRESS,
        }
    }
}

/// An attachment. Dropping it detaches the program (unless the link is pinned or its fd
/// was shared).
#[derive(Debug)]
pub struct Link {
    fd: OwnedFd,
}

impl Link {
    /// Attaches an XDP program to interface `ifindex` (of the calling thread's network
    /// namespace) in `mode`.
    pub fn attach_xdp(prog: &Program, ifindex: u32, mode: XdpMode) -> Result<Link, Error> {
        expect_kind(prog, ProgType::Xdp, "attach_xdp")?;
        create(prog, ifindex, sys::BPF_XDP, mode.flags()).map_err(|err| {
            // A missing interface comes back as a bare EINVAL for XDP, so look it up.
            let Ok(interface) = ifname(ifindex) else {
                return Error::NoSuchIfindex { ifindex };
            };
            match err.raw_os_error() {
                Some(errno @ (libc::EBUSY | libc::EEXIST)) => Error::XdpAlreadyAttached { interface, errno },
                Some(errno @ libc::EOPNOTSUPP) => Error::XdpModeUnsupported { interface, mode, errno },
                _ => Error::os(format!("attach XDP program `{}` to {interface} in {mode} mode", prog.name()), err),
            }
        })
    }

    /// Attaches in driver mode if the driver allows it, otherwise in generic mode, saying
    /// on stderr why it fell back. Returns the mode in use. Does not fall back when the
    /// interface is busy or privileges are missing, since generic mode would fail too.
    pub fn attach_xdp_auto(prog: &Program, ifindex: u32) -> Result<(Link, XdpMode), Error> {
        match Link::attach_xdp(prog, ifindex, XdpMode::Driver) {
            Ok(link) => Ok((link, XdpMode::Driver)),
            Err(err @ (Error::XdpAlreadyAttached { .. } | Error::PermissionDenied { .. })) => Err(err),
            Err(err) => {
                eprintln!(
                    "bpf: native XDP attach failed, falling back to generic (skb) mode, \
                     which is slower: {err}"
                );
                let link = Link::attach_xdp(prog, ifindex, XdpMode::Generic)?;
                Ok((link, XdpMode::Generic))
            }
        }
    }

    /// Attaches a `SchedCls` program with tcx (Linux 6.6+), at the end of the interface's
    /// ingress or egress program list. Several tcx programs can coexist.
    pub fn attach_tcx(prog: &Program, ifindex: u32, dir: TcxDirection) -> Result<Link, Error> {
        expect_kind(prog, ProgType::SchedCls, "attach_tcx")?;
        create(prog, ifindex, dir.attach_type(), 0).map_err(|err| {
            let Ok(interface) = ifname(ifindex) else {
                return Error::NoSuchIfindex { ifindex };
            };
            match err.raw_os_error() {
                // tcx refuses the same program twice on one hook.
                Some(libc::EEXIST) => Error::os(
                    format!(
                        "attach tcx {dir:?} program `{}` to {interface}: that program is already \
                         attached there",
                        prog.name()
                    ),
                    err,
                ),
                _ => Error::os(
                    format!("attach tcx {dir:?} program `{}` to {interface} (tcx needs Linux 6.6+)", prog.name()),
                    err,
                ),
            }
        })
    }

    /// Wraps a link fd (from [`crate::get_pinned`]).
    pub fn from_fd(fd: OwnedFd) -> Link {
        Link { fd }
    }

    /// The kernel's view of this link: its id, the id of the program it runs, and for an
    /// XDP link its interface.
    pub fn info(&self) -> Result<LinkInfo, Error> {
        let mut info = sys::LinkInfo::default();
        object_info(self.fd(), &mut info, "read BPF link info")?;
        let xdp = info.link_type == sys::BPF_LINK_TYPE_XDP;
        Ok(LinkInfo { id: info.id, prog_id: info.prog_id, xdp_ifindex: xdp.then_some(info.ifindex) })
    }

    /// Swaps the program this link runs for `new`, atomically (`BPF_LINK_UPDATE`): every
    /// frame meets either the old program or the new one, never none. With `expected`,
    /// only if the link still runs that program (`BPF_F_REPLACE`), so two updaters cannot
    /// overwrite each other unseen. On failure the link keeps its old program.
    pub fn update(&self, new: &Program, expected: Option<&Program>) -> Result<(), Error> {
        let mut attr = sys::LinkUpdateAttr {
            link_fd: self.raw_fd() as u32,
            new_prog_fd: new.raw_fd() as u32,
            flags: if expected.is_some() { sys::BPF_F_REPLACE } else { 0 },
            old_prog_fd: expected.map_or(0, |p| p.raw_fd() as u32),
        };
        // SAFETY: the attr holds no addresses; both fds are open for the duration.
        unsafe { sys::bpf(sys::BPF_LINK_UPDATE, &mut attr) }.map(drop).map_err(|err| {
            let what = match err.raw_os_error() {
                Some(libc::EPERM) if expected.is_some() => {
                    "(the link no longer runs the expected program: someone else replaced it)"
                }
                Some(libc::ENOLINK) => "(the link is defunct: its interface is gone)",
                Some(libc::EINVAL) => "(a program of another type or attach type?)",
                _ => "",
            };
            let operation = format!("replace the program of link fd {} with `{}` {what}", self.raw_fd(), new.name());
            if expected.is_some() && err.raw_os_error() == Some(libc::EPERM) {
                // Not a privilege problem: the kernel's answer to a stale `old_prog_fd`.
                return Error::Syscall { operation, source: err };
            }
            Error::os(operation, err)
        })
    }

    /// The link's file descriptor (for pinning).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The link's file descriptor as a number.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Link {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Link {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// What [`Link::info`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    /// The link's id (`bpftool link`).
    pub id: u32,
    /// The id of the program it runs (`ip link` shows it as `prog/xdp id N`).
    pub prog_id: u32,
    /// For an XDP link: the interface it is attached to.
    pub xdp_ifindex: Option<u32>,
}

fn expect_kind(prog: &Program, kind: ProgType, operation: &str) -> Result<(), Error> {
    if prog.kind() == kind {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            what: format!("{operation} needs a {kind:?} program, but `{}` is {:?}", prog.name(), prog.kind()),
        })
    }
}

fn create(prog: &Program, ifindex: u32, attach_type: u32, flags: u32) -> std::io::Result<Link> {
    let mut attr = sys::LinkCreateAttr {
        prog_fd: prog.raw_fd() as u32,
        target: ifindex,
        attach_type,
        flags,
        ..Default::default()
    };
    // SAFETY: the attr holds no addresses; prog_fd is open for the duration.
    let fd = unsafe { sys::bpf_fd(sys::BPF_LINK_CREATE, &mut attr) }?;
    Ok(Link { fd })
}

/// Ids of the programs attached with tcx to `ifindex` in direction `dir`, in run order.
pub fn tcx_program_ids(ifindex: u32, dir: TcxDirection) -> Result<Vec<u32>, Error> {
    // Ask for the count first, then for that many ids (plus room for a race).
    let mut ids = Vec::new();
    loop {
        let capacity = ids.len();
        let mut attr = sys::QueryAttr {
            target: ifindex,
            attach_type: dir.attach_type(),
            prog_ids: if capacity == 0 { 0 } else { sys::addr(ids.as_mut_ptr() as *const u32) },
            prog_cnt: capacity as u32,
            ..Default::default()
        };
        // SAFETY: prog_ids (when set) points to prog_cnt writable u32s that outlive the call.
        let result = unsafe { sys::bpf(sys::BPF_PROG_QUERY, &mut attr) };
        let attached = attr.prog_cnt as usize;
        match result {
            Ok(_) if attached <= capacity && (capacity > 0 || attached == 0) => {
                ids.truncate(attached);
                return Ok(ids);
            }
            // ENOSPC: more programs than room; retry with the count the kernel gave.
            Ok(_) => {}
            Err(err) if err.raw_os_error() == Some(libc::ENOSPC) => {}
            Err(err) => return Err(Error::os(format!("query tcx {dir:?} programs"), err)),
        }
        ids = vec![0u32; attached + 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::{Insn, Reg};
    use crate::{tc, xdp};
    use testkit::{require_root, Netns};

    fn returning(kind: ProgType, name: &str, action: i32) -> Program {
        Program::load(kind, name, &[Insn::mov64_imm(Reg::R0, action), Insn::exit()]).unwrap()
    }

    #[test]
    fn xdp_link_attaches_and_detaches_on_drop() {
        if !require_root("xdp_link_attaches_and_detaches_on_drop") {
            return;
        }
        let netns = Netns::with_veth_pair("bpf");
        let prog = returning(ProgType::Xdp, "xdp_pass", xdp::PASS);
        let shown_id = format!("prog/xdp id {}", prog.id().unwrap());

        let link = netns.run(|| Link::attach_xdp(&prog, crate::ifindex("veth0").unwrap(), XdpMode::Driver).unwrap());
        let details = netns.ip(&["-d", "link", "show", "dev", "veth0"]);
        assert!(details.contains(" xdp "), "{details}");
        assert!(details.contains(&shown_id), "{details}");

        drop(link);
        let details = netns.wait_for_link_details("veth0", |d| !d.contains("prog/xdp"));
        assert!(!details.contains("prog/xdp"), "still attached after drop: {details}");
    }

    #[test]
    fn xdp_link_update_swaps_the_program_and_keeps_the_link() {
        if !require_root("xdp_link_update_swaps_the_program_and_keeps_the_link") {
            return;
        }
        let netns = Netns::with_veth_pair("bpf");
        let first = returning(ProgType::Xdp, "first", xdp::PASS);
        let second = returning(ProgType::Xdp, "second", xdp::DROP);
        let third = returning(ProgType::Xdp, "third", xdp::PASS);
        let tc_prog = returning(ProgType::SchedCls, "tc", tc::PASS);
        netns.run(|| {
            let ifindex = crate::ifindex("veth0").unwrap();
            let link = Link::attach_xdp(&first, ifindex, XdpMode::Driver).unwrap();
            let before = link.info().unwrap();
            assert_eq!(before.prog_id, first.id().unwrap());
            assert_eq!(before.xdp_ifindex, Some(ifindex));

            link.update(&second, Some(&first)).unwrap();
            let after = link.info().unwrap();
            assert_eq!(after.id, before.id, "the same link");
            assert_eq!(after.prog_id, second.id().unwrap(), "runs the new program");

            // The link runs `second` now: expecting `first` is refused and changes nothing.
            let err = link.update(&third, Some(&first)).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
            assert!(err.to_string().contains("no longer runs the expected program"), "{err}");
            // A program of the wrong type is refused too.
            assert!(link.update(&tc_prog, None).is_err());
            assert_eq!(link.info().unwrap().prog_id, second.id().unwrap(), "a failed update keeps the old one");

            link.update(&third, None).unwrap();
            assert_eq!(link.info().unwrap().prog_id, third.id().unwrap());
        });
    }

    #[test]
    fn second_xdp_attach_reports_the_busy_interface() {
        if !require_root("second_xdp_attach_reports_the_busy_interface") {
            return;
        }
        let netns = Netns::with_veth_pair("bpf");
        let first = returning(ProgType::Xdp, "first", xdp::PASS);
        let second = returning(ProgType::Xdp, "second", xdp::DROP);
        netns.run(|| {
            let ifindex = crate::ifindex("veth0").unwrap();
            let (_link, mode) = Link::attach_xdp_auto(&first, ifindex).unwrap();
            assert_eq!(mode, XdpMode::Driver, "veth supports native XDP");

            let err = Link::attach_xdp(&second, ifindex, XdpMode::Driver).unwrap_err();
            assert!(matches!(err, Error::XdpAlreadyAttached { .. }), "{err:?}");
            assert_eq!(err.raw_os_error(), Some(libc::EBUSY));
            assert!(
                err.to_string().contains("interface veth0 already has an XDP program attached (another dataplane?)"),
                "{err}"
            );

            // The other mode collides too (EEXIST), and auto mode must not paper over it.
            let err = Link::attach_xdp(&second, ifindex, XdpMode::Generic).unwrap_err();
            assert!(matches!(err, Error::XdpAlreadyAttached { .. }), "{err:?}");
            assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
            let err = Link::attach_xdp_auto(&second, ifindex).unwrap_err();
            assert!(matches!(err, Error::XdpAlreadyAttached { .. }), "{err:?}");
        });
    }

    #[test]
    fn generic_mode_attaches() {
        if !require_root("generic_mode_attaches") {
            return;
        }
        let netns = Netns::with_veth_pair("bpf");
        let prog = returning(ProgType::Xdp, "generic", xdp::PASS);
        let link = netns.run(|| Link::attach_xdp(&prog, crate::ifindex("veth1").unwrap(), XdpMode::Generic).unwrap());
        let details = netns.ip(&["-d", "link", "show", "dev", "veth1"]);
        assert!(details.contains("xdpgeneric"), "{details}");
        drop(link);
        let details = netns.wait_for_link_details("veth1", |d| !d.contains("xdpgeneric"));
        assert!(!details.contains("xdpgeneric"), "{details}");
    }

    #[test]
    fn tcx_link_attaches_and_detaches_on_drop() {
        if !require_root("tcx_link_attaches_and_detaches_on_drop") {
            return;
        }
        let netns = Netns::with_veth_pair("bpf");
        let prog = returning(ProgType::SchedCls, "tcx_pass", tc::PASS);
        let next = returning(ProgType::SchedCls, "tcx_next", tc::NEXT);
        let ids = [prog.id().unwrap(), next.id().unwrap()];
        netns.run(|| {
            let ifindex = crate::ifindex("veth0").unwrap();
            assert_eq!(tcx_program_ids(ifindex, TcxDirection::Ingress).unwrap(), []);
            let link = Link::attach_tcx(&prog, ifindex, TcxDirection::Ingress).unwrap();
            let other = Link::attach_tcx(&next, ifindex, TcxDirection::Ingress).unwrap();
            assert_eq!(tcx_program_ids(ifindex, TcxDirection::Ingress).unwrap(), ids);
            let err = Link::attach_tcx(&prog, ifindex, TcxDirection::Ingress).unwrap_err();
            assert!(err.to_string().contains("already attached there"), "{err}");
            assert_eq!(tcx_program_ids(ifindex, TcxDirection::Egress).unwrap(), []);
            drop(other);
            drop(link);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while !tcx_program_ids(ifindex, TcxDirection::Ingress).unwrap().is_empty() {
                assert!(std::time::Instant::now() < deadline, "tcx program still attached");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
    }

    #[test]
    fn wrong_program_kind_or_interface_is_explained() {
        if !require_root("wrong_program_kind_or_interface_is_explained") {
            return;
        }
        let netns = Netns::with_veth_pair("bpf");
        let xdp_prog = returning(ProgType::Xdp, "x", xdp::PASS);
        let tc_prog = returning(ProgType::SchedCls, "t", tc::PASS);
        netns.run(|| {
            let ifindex = crate::ifindex("veth0").unwrap();
            let err = Link::attach_tcx(&xdp_prog, ifindex, TcxDirection::Egress).unwrap_err();
            assert!(err.to_string().contains("needs a SchedCls program"), "{err}");
            let err = Link::attach_xdp(&tc_prog, ifindex, XdpMode::Driver).unwrap_err();
            assert!(err.to_string().contains("needs a Xdp program"), "{err}");
            let err = Link::attach_xdp(&xdp_prog, 999_999, XdpMode::Driver).unwrap_err();
            assert!(matches!(err, Error::NoSuchIfindex { .. }), "{err:?}");
            let err = Link::attach_tcx(&tc_prog, 999_999, TcxDirection::Ingress).unwrap_err();
            assert!(matches!(err, Error::NoSuchIfindex { .. }), "{err:?}");
        });
    }
}
