//! One error type whose messages say what went wrong and what to do about it.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::xdp_mode::XdpMode;

/// How many trailing lines of the verifier log an error message shows: the reason for a
/// rejection is at the end, the register-state dump before it is rarely needed.
const VERIFIER_LOG_TAIL_LINES: usize = 40;

const PRIVILEGE_HINT: &str = "needs root, or CAP_BPF and CAP_NET_ADMIN \
     (and on kernels before 5.11, a higher RLIMIT_MEMLOCK)";

/// Everything that can go wrong in this crate.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The kernel refused for lack of privilege (EPERM, or EACCES outside the verifier).
    PermissionDenied {
        /// What was refused, e.g. `create map xsks`.
        operation: String,
        /// EPERM or EACCES.
        errno: i32,
    },
    /// The verifier rejected a program. `log` is the whole log; `Display` shows its tail.
    Verifier {
        /// The program's name.
        program: String,
        /// The errno of BPF_PROG_LOAD (mostly EACCES or EINVAL).
        errno: i32,
        /// The verifier's whole log.
        log: String,
    },
    /// The interface already runs an XDP program (EBUSY: same mode or attached without a
    /// link; EEXIST: attached in the other mode).
    XdpAlreadyAttached {
        /// The interface's name.
        interface: String,
        /// EBUSY or EEXIST.
        errno: i32,
    },
    /// The driver does not support the requested XDP mode.
    XdpModeUnsupported {
        /// The interface's name.
        interface: String,
        /// The mode asked for.
        mode: XdpMode,
        /// EOPNOTSUPP.
        errno: i32,
    },
    /// No network interface has this name (in the calling thread's network namespace).
    NoSuchInterface {
        /// The name looked up.
        name: String,
    },
    /// No network interface has this index (in the calling thread's network namespace).
    NoSuchIfindex {
        /// The index looked up.
        ifindex: u32,
    },
    /// Nothing is pinned at this path.
    PinNotFound {
        /// The pin's path.
        path: PathBuf,
    },
    /// Something already exists at this path, so a new pin cannot go there.
    PinExists {
        /// The pin's path.
        path: PathBuf,
    },
    /// The path is not on a bpf filesystem, so nothing can be pinned to or read from it.
    NotOnBpffs {
        /// The path given.
        path: PathBuf,
        /// The errno of the pin or get call.
        errno: i32,
    },
    /// A key or value buffer had the wrong length (checked before calling the kernel, which
    /// would otherwise read or write past it).
    WrongLength {
        /// `key` or `value`.
        what: &'static str,
        /// The length the map was created with.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// An argument that can never be valid (for example a path containing a NUL byte).
    InvalidArgument {
        /// Which argument, and why.
        what: String,
    },
    /// Any other failure of a system call, with what we were doing.
    Syscall {
        /// What was being done, e.g. `update map xsks`.
        operation: String,
        /// The system call's error.
        source: io::Error,
    },
}

impl Error {
    /// The errno behind this error, if it came from the kernel.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::PermissionDenied { errno, .. }
            | Error::Verifier { errno, .. }
            | Error::XdpAlreadyAttached { errno, .. }
            | Error::XdpModeUnsupported { errno, .. }
            | Error::NotOnBpffs { errno, .. } => Some(*errno),
            Error::NoSuchInterface { .. } | Error::NoSuchIfindex { .. } => Some(libc::ENODEV),
            Error::PinNotFound { .. } => Some(libc::ENOENT),
            Error::PinExists { .. } => Some(libc::EEXIST),
            Error::Syscall { source, .. } => source.raw_os_error(),
            Error::WrongLength { .. } | Error::InvalidArgument { .. } => None,
        }
    }

    /// Wraps a failed system call, turning EPERM/EACCES into [`Error::PermissionDenied`].
    pub(crate) fn os(operation: impl Into<String>, source: io::Error) -> Error {
        match source.raw_os_error() {
            Some(errno @ (libc::EPERM | libc::EACCES)) => {
                Error::PermissionDenied { operation: operation.into(), errno }
            }
            _ => Error::Syscall { operation: operation.into(), source },
        }
    }

    /// The last lines of the verifier log, for messages.
    pub fn verifier_log_tail(log: &str) -> String {
        let lines: Vec<&str> = log.trim_end().lines().collect();
        let start = lines.len().saturating_sub(VERIFIER_LOG_TAIL_LINES);
        let mut tail = String::new();
        if start > 0 {
            tail.push_str(&format!("  ... ({start} earlier lines omitted)\n"));
        }
        for line in &lines[start..] {
            tail.push_str("  ");
            tail.push_str(line);
            tail.push('\n');
        }
        tail
    }
}

fn errno_text(errno: i32) -> String {
    io::Error::from_raw_os_error(errno).to_string()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::PermissionDenied { operation, errno } => {
                write!(f, "{operation}: {}: {PRIVILEGE_HINT}", errno_text(*errno))
            }
            Error::Verifier { program, errno, log } => write!(
                f,
                // The bare errno, not its text: the verifier reports most rejections as
                // EACCES, whose "Permission denied" would send readers after privileges.
                "the kernel verifier rejected BPF program `{program}` (errno {errno}); \
                 end of the verifier log:\n{}",
                Error::verifier_log_tail(log)
            ),
            Error::XdpAlreadyAttached { interface, errno } => write!(
                f,
                "interface {interface} already has an XDP program attached (another dataplane?): \
                 stop it, or detach with `ip link set dev {interface} xdp off` \
                 (or `xdpgeneric off`) ({})",
                errno_text(*errno)
            ),
            Error::XdpModeUnsupported { interface, mode, errno } => write!(
                f,
                "the driver of {interface} cannot run XDP in {mode} mode ({}); \
                 try generic mode (mode=auto falls back by itself)",
                errno_text(*errno)
            ),
            Error::NoSuchInterface { name } => write!(
                f,
                "no network interface named `{name}` in this network namespace \
                 (check `ip link show`; in a lab, run inside the right `ip netns exec`)"
            ),
            Error::NoSuchIfindex { ifindex } => write!(
                f,
                "no network interface has index {ifindex} in this network namespace \
                 (it may have been deleted; check `ip link show`)"
            ),
            Error::PinNotFound { path } => write!(
                f,
                "nothing is pinned at {}: check the path, that bpffs is mounted there \
                 (`mount -t bpf bpf /sys/fs/bpf`), and that the loader pinned it",
                path.display()
            ),
            Error::PinExists { path } => write!(
                f,
                "{} already exists: remove the old pin (`rm {}`) or choose another path",
                path.display(),
                path.display()
            ),
            Error::NotOnBpffs { path, errno } => write!(
                f,
                "{} is not on a bpf filesystem ({}): mount one with \
                 `mount -t bpf bpf /sys/fs/bpf` (bpf::ensure_bpffs does this) and use a path below it",
                path.display(),
                errno_text(*errno)
            ),
            Error::WrongLength { what, expected, actual } => {
                write!(f, "{what} must be {expected} bytes long, got {actual}")
            }
            Error::InvalidArgument { what } => write!(f, "invalid argument: {what}"),
            Error::Syscall { operation, source } => {
                write!(f, "{operation} failed: {source}")?;
                match source.raw_os_error() {
                    Some(libc::ENOSYS) => {
                        write!(f, " (this kernel was built without the bpf(2) system call)")
                    }
                    Some(libc::E2BIG) | Some(libc::EINVAL) => {
                        write!(f, " (the kernel rejected the arguments; it may be too old for this feature)")
                    }
                    _ => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Syscall { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_errors_say_what_is_needed() {
        let err = Error::os("create map", io::Error::from_raw_os_error(libc::EPERM));
        assert!(matches!(err, Error::PermissionDenied { .. }));
        assert!(err.to_string().contains("needs root, or CAP_BPF and CAP_NET_ADMIN"));
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
    }

    #[test]
    fn other_errors_keep_their_errno() {
        let err = Error::os("update map", io::Error::from_raw_os_error(libc::E2BIG));
        assert_eq!(err.raw_os_error(), Some(libc::E2BIG));
        assert!(err.to_string().starts_with("update map failed"));
    }

    #[test]
    fn verifier_message_shows_only_the_tail_of_a_long_log() {
        let log: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let err = Error::Verifier { program: "p".into(), errno: libc::EACCES, log };
        let text = err.to_string();
        assert!(text.contains("line 99"));
        assert!(text.contains("line 60"));
        assert!(!text.contains("line 59\n"));
        assert!(text.contains("60 earlier lines omitted"));
    }

    #[test]
    fn busy_interface_message_names_the_interface() {
        let err = Error::XdpAlreadyAttached { interface: "veth0".into(), errno: libc::EBUSY };
        assert!(err.to_string().contains("interface veth0 already has an XDP program attached (another dataplane?)"));
    }
}
