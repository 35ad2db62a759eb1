//! Loading programs (BPF_PROG_LOAD, with the verifier log on failure) and running them
//! on test input (BPF_PROG_TEST_RUN).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::error::Error;
use crate::insn::Insn;
use crate::map::object_info;
use crate::sys;

/// The kinds of program this crate loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgType {
    /// `BPF_PROG_TYPE_XDP`: runs on `struct xdp_md`, returns an [`crate::xdp`] action.
    Xdp,
    /// `BPF_PROG_TYPE_SCHED_CLS`: tc / tcx, runs on `struct __sk_buff`, returns a
    /// [`crate::tc`] action.
    SchedCls,
}

impl ProgType {
    const fn uapi(self) -> u32 {
        match self {
            ProgType::SchedCls => 3,
            ProgType::Xdp => 6,
        }
    }
}

/// Verifier log buffer for the retry after a failed load. Since Linux 6.4 the log is a
/// ring that keeps its end (where the reason is) when it overflows; older kernels keep
/// the beginning and fail with ENOSPC, which still leaves us a useful log.
const VERIFIER_LOG_SIZE: usize = 4 << 20;

/// `log_level` 1: the verifier prints the instructions and register state it explored up
/// to the failure, which is what explains a rejection.
const VERIFIER_LOG_LEVEL: u32 = 1;

/// The kernel may abort verification with EAGAIN when a signal is pending; libbpf retries
/// the same way.
const LOAD_ATTEMPTS_ON_EAGAIN: usize = 5;

/// Both XDP and skb test runs need at least an Ethernet header of input, otherwise the
/// kernel answers a bare EINVAL.
const MIN_TEST_RUN_DATA: usize = 14;

/// Room for a program to grow the frame during a test run (`bpf_xdp_adjust_head/tail`).
const TEST_RUN_OUTPUT_SLACK: usize = 4096;

/// A loaded, verified program. Dropping it closes the fd; the kernel frees the program
/// once nothing (link, map, pin) refers to it any more.
#[derive(Debug)]
pub struct Program {
    fd: OwnedFd,
    kind: ProgType,
    name: String,
}

/// Result of [`Program::test_run`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRun {
    /// The program's return value (for XDP the action, e.g. [`crate::xdp::PASS`]).
    pub retval: u32,
    /// Mean run time per repetition, as measured by the kernel.
    pub duration_ns: u32,
    /// The frame as the program left it (empty for live-frames runs).
    pub data_out: Vec<u8>,
}

/// Knobs of `BPF_PROG_TEST_RUN` beyond the data and repeat count.
#[derive(Clone, Copy, Debug, Default)]
pub struct TestRunOptions<'a> {
    /// How many times to run (0 behaves as 1).
    pub repeat: u32,
    /// `TestRunOptions::XDP_LIVE_FRAMES`, `TestRunOptions::RUN_ON_CPU`, or 0.
    pub flags: u32,
    /// Context to run with: for XDP a [`crate::xdp::XdpMd`] as bytes (to set the ingress
    /// interface and RX queue the program sees).
    pub ctx_in: Option<&'a [u8]>,
    /// With `RUN_ON_CPU`: the CPU to run on.
    pub cpu: u32,
    /// With `XDP_LIVE_FRAMES`: frames per batch (0 = kernel default, 64).
    pub batch_size: u32,
}

impl TestRunOptions<'_> {
    /// `BPF_F_TEST_RUN_ON_CPU`.
    pub const RUN_ON_CPU: u32 = 1 << 0;
    /// `BPF_F_TEST_XDP_LIVE_FRAMES`: the frames really go where the program sends them
    /// (XDP_TX, XDP_REDIRECT), as a packet generator. No output data is returned.
    pub const XDP_LIVE_FRAMES: u32 = 1 << 1;
}

/// Attributes of `BPF_PROG_LOAD` beyond the instructions: `prog_flags` and `prog_ifindex`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// `prog_flags`: [`LoadOptions::XDP_HAS_FRAGS`], [`LoadOptions::XDP_DEV_BOUND_ONLY`].
    pub flags: u32,
    /// `prog_ifindex`: the device a device-bound program is bound to (0: none).
    pub ifindex: u32,
}

impl LoadOptions {
    /// `BPF_F_XDP_HAS_FRAGS`: the XDP program handles multi-buffer frames.
    pub const XDP_HAS_FRAGS: u32 = 1 << 5;
    /// `BPF_F_XDP_DEV_BOUND_ONLY`: bound to the device `ifindex` (kernel/bpf/offload.c,
    /// `bpf_prog_dev_bound_init`), not offloaded to it. Only such a program reaches the
    /// device's own XDP metadata kfuncs (the verifier replaces the generic
    /// `bpf_xdp_metadata_*` call by the driver's, `bpf_dev_bound_resolve_kfunc`); the
    /// kernel attaches it only to that device, and only in native (driver) mode.
    pub const XDP_DEV_BOUND_ONLY: u32 = 1 << 6;

    /// Bound to the device `ifindex` (in the calling thread's network namespace), for the
    /// device's XDP metadata kfuncs.
    pub fn dev_bound(ifindex: u32) -> LoadOptions {
        LoadOptions { flags: LoadOptions::XDP_DEV_BOUND_ONLY, ifindex }
    }
}

impl Program {
    /// Loads and verifies `insns` under the license "GPL" (some helpers are GPL-only).
    /// `name` shows up in `bpftool prog` and `ip link`; it is cut to 15 characters and
    /// characters other than `[A-Za-z0-9_.]` become `_`. On rejection the error carries
    /// the verifier log.
    pub fn load(kind: ProgType, name: &str, insns: &[Insn]) -> Result<Program, Error> {
        Program::load_with(kind, name, insns, &LoadOptions::default())
    }

    /// [`Program::load`] with flags and a device (e.g. device-bound for metadata kfuncs).
    pub fn load_with(kind: ProgType, name: &str, insns: &[Insn], options: &LoadOptions) -> Result<Program, Error> {
        if insns.is_empty() {
            return Err(Error::InvalidArgument { what: format!("BPF program `{name}` has no instructions") });
        }
        let operation = || format!("load BPF program `{name}`");
        let first_error = match load_with_log(kind, name, insns, options, None) {
            Ok(fd) => return Ok(Program::new(fd, kind, name)),
            Err(err) => err,
        };
        let errno = first_error.raw_os_error().unwrap_or(0);
        if errno == libc::EPERM {
            return Err(Error::os(operation(), first_error));
        }

        // Load again, this time asking the verifier to explain itself. Not done up front
        // because producing the log makes every successful load slower.
        let mut log = vec![0u8; VERIFIER_LOG_SIZE];
        match load_with_log(kind, name, insns, options, Some(&mut log)) {
            Ok(fd) => Ok(Program::new(fd, kind, name)),
            Err(retry_error) => {
                let log = CStr::from_bytes_until_nul(&log)
                    .map(|text| text.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if log.trim().is_empty() {
                    // Rejected before the verifier ran (bad attributes, privileges).
                    return Err(Error::os(operation(), first_error));
                }
                // ENOSPC only says the log was cut; the first errno is the real reason.
                let errno = match retry_error.raw_os_error() {
                    Some(libc::ENOSPC) | None => errno,
                    Some(retry_errno) => retry_errno,
                };
                Err(Error::Verifier { program: name.to_owned(), errno, log })
            }
        }
    }

    fn new(fd: OwnedFd, kind: ProgType, name: &str) -> Program {
        Program { fd, kind, name: name.to_owned() }
    }

    /// The program's file descriptor (for attaching and pinning).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The program's file descriptor as a number (for a program array).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The type the program was loaded as.
    pub fn kind(&self) -> ProgType {
        self.kind
    }

    /// The name given to [`Program::load`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kernel's id for this program, as `ip link` and `bpftool prog` show it.
    pub fn id(&self) -> Result<u32, Error> {
        let mut info = sys::ProgInfo::default();
        object_info(self.fd(), &mut info, "read BPF program info")?;
        Ok(info.id)
    }

    /// Runs the program `repeat` times (0 counts as 1) on `data` with
    /// `BPF_PROG_TEST_RUN`. `data` must be at least a 14-byte Ethernet header.
    pub fn test_run(&self, data: &[u8], repeat: u32) -> Result<TestRun, Error> {
        self.test_run_with(data, &TestRunOptions { repeat, ..TestRunOptions::default() })
    }

    /// [`Program::test_run`] with every option, e.g. live frames for a packet generator.
    pub fn test_run_with(&self, data: &[u8], options: &TestRunOptions<'_>) -> Result<TestRun, Error> {
        if data.len() < MIN_TEST_RUN_DATA {
            return Err(Error::InvalidArgument {
                what: format!(
                    "a test run needs at least {MIN_TEST_RUN_DATA} bytes of frame \
                     (an Ethernet header), got {}",
                    data.len()
                ),
            });
        }
        let live = options.flags & TestRunOptions::XDP_LIVE_FRAMES != 0;
        // Live-frames runs must not ask for output: the frames have left.
        let mut data_out = if live { Vec::new() } else { vec![0u8; data.len() + TEST_RUN_OUTPUT_SLACK] };
        let ctx_in = options.ctx_in.unwrap_or(&[]);
        let mut attr = sys::TestRunAttr {
            prog_fd: self.raw_fd() as u32,
            data_size_in: len_u32(data.len(), "test-run data")?,
            data_in: sys::addr(data.as_ptr()),
            data_size_out: data_out.len() as u32,
            data_out: if live { 0 } else { sys::addr(data_out.as_ptr()) },
            repeat: options.repeat,
            ctx_size_in: len_u32(ctx_in.len(), "test-run context")?,
            ctx_in: if ctx_in.is_empty() { 0 } else { sys::addr(ctx_in.as_ptr()) },
            flags: options.flags,
            cpu: options.cpu,
            batch_size: options.batch_size,
            ..Default::default()
        };
        // SAFETY: data_in/ctx_in point to the caller's slices of the stated sizes, data_out
        // to our buffer of data_size_out bytes; all outlive the call; prog_fd is open.
        unsafe { sys::bpf(sys::BPF_PROG_TEST_RUN, &mut attr) }
            .map_err(|err| Error::os(format!("test-run BPF program `{}`", self.name), err))?;
        data_out.truncate(attr.data_size_out as usize);
        Ok(TestRun { retval: attr.retval, duration_ns: attr.duration, data_out })
    }
}

impl AsFd for Program {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Program {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn len_u32(len: usize, what: &'static str) -> Result<u32, Error> {
    u32::try_from(len).map_err(|_| Error::WrongLength { what, expected: u32::MAX as usize, actual: len })
}

fn load_with_log(
    kind: ProgType,
    name: &str,
    insns: &[Insn],
    options: &LoadOptions,
    log: Option<&mut [u8]>,
) -> io::Result<OwnedFd> {
    const LICENSE: &CStr = c"GPL";
    let (log_level, log_size, log_buf) = match log {
        Some(buf) => (VERIFIER_LOG_LEVEL, buf.len() as u32, sys::addr(buf.as_ptr())),
        None => (0, 0, 0),
    };
    let mut attempts = 0;
    loop {
        let mut attr = sys::ProgLoadAttr {
            prog_type: kind.uapi(),
            insn_cnt: u32::try_from(insns.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
            insns: sys::addr(insns.as_ptr()),
            license: sys::addr(LICENSE.as_ptr()),
            log_level,
            log_size,
            log_buf,
            prog_name: sys::object_name(name),
            prog_flags: options.flags,
            prog_ifindex: options.ifindex,
            ..Default::default()
        };
        // SAFETY: insns points to insn_cnt 8-byte `struct bpf_insn`s (Insn is repr(C) and
        // 8 bytes), license to a NUL-terminated string, log_buf (if set) to log_size
        // writable bytes; all outlive the call.
        match unsafe { sys::bpf_fd(sys::BPF_PROG_LOAD, &mut attr) } {
            Err(err) if err.raw_os_error() == Some(libc::EAGAIN) && attempts + 1 < LOAD_ATTEMPTS_ON_EAGAIN => {
                attempts += 1;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::{Reg, Size};
    use crate::xdp;
    use testkit::require_root;

    fn return_action(action: i32) -> Vec<Insn> {
        vec![Insn::mov64_imm(Reg::R0, action), Insn::exit()]
    }

    #[test]
    fn trivial_xdp_program_loads_and_passes() {
        if !require_root("trivial_xdp_program_loads_and_passes") {
            return;
        }
        let prog = Program::load(ProgType::Xdp, "xdp_pass", &return_action(xdp::PASS)).unwrap();
        let frame = [0xaau8; 64];
        let run = prog.test_run(&frame, 10).unwrap();
        assert_eq!(run.retval, xdp::PASS as u32);
        assert_eq!(run.data_out, frame);
        assert!(prog.id().unwrap() > 0);
    }

    #[test]
    fn test_run_returns_the_modified_frame() {
        if !require_root("test_run_returns_the_modified_frame") {
            return;
        }
        // Writes 0x42 into the first byte after a bounds check, then returns XDP_TX.
        let insns = [
            Insn::ldx(Size::W, Reg::R2, Reg::R1, xdp::MD_DATA),
            Insn::ldx(Size::W, Reg::R3, Reg::R1, xdp::MD_DATA_END),
            Insn::mov64_reg(Reg::R4, Reg::R2),
            Insn::add64_imm(Reg::R4, 1),
            Insn::mov64_imm(Reg::R0, xdp::ABORTED),
            Insn::jmp_reg(crate::Jmp::Gt, Reg::R4, Reg::R3, 2),
            Insn::st(Size::B, Reg::R2, 0, 0x42),
            Insn::mov64_imm(Reg::R0, xdp::TX),
            Insn::exit(),
        ];
        let prog = Program::load(ProgType::Xdp, "xdp_poke", &insns).unwrap();
        let run = prog.test_run(&[0u8; 20], 1).unwrap();
        assert_eq!(run.retval, xdp::TX as u32);
        assert_eq!(run.data_out[0], 0x42);
        assert_eq!(run.data_out.len(), 20);
    }

    #[test]
    fn verifier_rejection_carries_the_log() {
        if !require_root("verifier_rejection_carries_the_log") {
            return;
        }
        // Reads packet memory without a bounds check: the verifier must refuse.
        let insns =
            [Insn::ldx(Size::W, Reg::R2, Reg::R1, xdp::MD_DATA), Insn::ldx(Size::B, Reg::R0, Reg::R2, 0), Insn::exit()];
        let err = Program::load(ProgType::Xdp, "xdp_unchecked", &insns).unwrap_err();
        let Error::Verifier { ref log, .. } = err else {
            panic!("expected a verifier error, got {err:?}");
        };
        assert!(log.contains("invalid access to packet"), "log: {log}");
        let text = err.to_string();
        assert!(text.contains("verifier rejected BPF program `xdp_unchecked`"));
        assert!(text.contains("invalid access to packet"), "message: {text}");
    }

    #[test]
    fn uninitialised_return_value_is_a_verifier_error() {
        if !require_root("uninitialised_return_value_is_a_verifier_error") {
            return;
        }
        let err = Program::load(ProgType::Xdp, "no_r0", &[Insn::exit()]).unwrap_err();
        assert!(err.to_string().contains("R0 !read_ok"), "{err}");
    }

    #[test]
    fn empty_program_and_short_frame_are_refused_before_the_kernel() {
        let err = Program::load(ProgType::Xdp, "empty", &[]).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }));
        if !require_root("empty_program_and_short_frame_are_refused_before_the_kernel") {
            return;
        }
        let prog = Program::load(ProgType::Xdp, "p", &return_action(xdp::DROP)).unwrap();
        let err = prog.test_run(&[0u8; 13], 1).unwrap_err();
        assert!(err.to_string().contains("at least 14 bytes"), "{err}");
    }

    #[test]
    fn sched_cls_program_runs() {
        if !require_root("sched_cls_program_runs") {
            return;
        }
        // Returns skb->len, which the test run sets to the frame length.
        let insns = [Insn::ldx(Size::W, Reg::R0, Reg::R1, crate::tc::SKB_LEN), Insn::exit()];
        let prog = Program::load(ProgType::SchedCls, "skb_len", &insns).unwrap();
        assert_eq!(prog.test_run(&[0u8; 60], 1).unwrap().retval, 60);
    }

    #[test]
    fn xdp_context_sets_the_rx_queue() {
        if !require_root("xdp_context_sets_the_rx_queue") {
            return;
        }
        let insns = [Insn::ldx(Size::W, Reg::R0, Reg::R1, xdp::MD_INGRESS_IFINDEX), Insn::exit()];
        let prog = Program::load(ProgType::Xdp, "ifindex", &insns).unwrap();
        // ifindex 1 is the loopback device of whatever namespace the test runs in.
        let ctx = xdp::XdpMd::for_frame(60, 1, 0);
        let run = prog
            .test_run_with(&[0u8; 60], &TestRunOptions { ctx_in: Some(&ctx.to_bytes()), ..Default::default() })
            .unwrap();
        assert_eq!(run.retval, 1);
    }
}
