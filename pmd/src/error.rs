//! The one error type of this crate: every way naming, opening, tuning or closing a port can
//! fail. Each variant carries what the user needs to act on it (the port text, the
//! interface, the queue, the path, the errno of the call that failed) and its `Display` is
//! the whole message, advice included, so a program can print it as it is. The cause, where
//! there is one (an `io::Error`, a `bpf::Error`), is also its `source()`, for callers that
//! want the errno: [`Error::raw_os_error`].
//!
//! This module sits below every other of the crate: it names only the capture reader's
//! error types, and the other modules name it.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::capture::{CaptureError, LinkType, RecordError};

/// What a `steer=` expression should look like, for the messages about one that does not.
const STEER_SYNTAX: &str = "expected conditions joined by '+', each udp:PORT, tcp:PORT, proto:NAME|NUMBER \
     (names: icmp, igmp, ipip, tcp, udp, ipv6, gre, esp, ah, icmpv6, ospf, sctp, udplite) \
     or ethertype:0xHEX, e.g. udp:4789+ethertype:0x88b5; or `all`";

/// Everything that can go wrong in this crate.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    // ---- port specifications (devargs) ----
    /// A devargs item without `=`.
    NotKeyValue {
        /// The whole port text.
        port: String,
        /// The item, e.g. `iface`.
        item: String,
    },
    /// The text before `:` names no driver.
    UnknownPortType {
        /// The whole port text.
        port: String,
        /// What stood before the `:`.
        kind: String,
    },
    /// A key the driver does not know.
    UnknownKey {
        /// The whole port text.
        port: String,
        /// `af_xdp`, `pcap` or `mem`.
        driver: &'static str,
        /// The key given.
        key: String,
        /// The keys the driver knows, for the message.
        known: &'static str,
    },
    /// A key the driver cannot do without.
    MissingKey {
        /// The whole port text.
        port: String,
        /// `af_xdp` or `pcap`.
        driver: &'static str,
        /// What to add, e.g. `iface=NAME`.
        needs: &'static str,
        /// A whole port text that has it.
        example: &'static str,
    },
    /// A devarg whose value is not one the key takes.
    Devarg {
        /// The whole port text; empty when a single value was parsed on its own.
        port: String,
        /// The key, e.g. `ring`.
        key: &'static str,
        /// The value given.
        value: String,
        /// What the value should be, as the message says it (`should be 2048 or 4096`).
        expected: &'static str,
    },
    /// `mem:preload=N` with more frames than the loop holds.
    PreloadExceedsDepth {
        /// The whole port text.
        port: String,
        /// The `preload=` value.
        preload: u32,
        /// The `depth=` value.
        depth: u32,
    },
    /// A `steer=` expression that does not parse.
    Steer {
        /// The whole port text; empty when the expression was parsed on its own.
        port: String,
        /// The expression.
        expression: String,
        /// What is wrong with it.
        problem: SteerProblem,
    },

    // ---- interfaces, queues, privileges ----
    /// No interface has this name in the calling thread's network namespace.
    NoSuchInterface {
        /// The name given.
        iface: String,
        /// The failed lookup.
        source: bpf::Error,
    },
    /// `queues=all` on an interface whose receive queues sysfs does not list.
    QueuesUncountable {
        /// The interface.
        iface: String,
    },
    /// A queue number past the interface's receive queues.
    QueueOutOfRange {
        /// The interface.
        iface: String,
        /// The queue asked for.
        queue: u32,
        /// How many receive queues the interface has.
        queue_count: u32,
    },
    /// The interface's MTU does not fit the UMEM frames the port would receive into.
    MtuTooLarge {
        /// The interface.
        iface: String,
        /// Its MTU.
        mtu: u32,
        /// The port's `frame=` size.
        frame_size: u32,
        /// The bytes a frame holds after the kernel's headroom.
        room: u32,
        /// Whether a 4096-byte frame would hold the MTU.
        larger_frame_fits: bool,
        /// `mb=` as written: `Some(false)` (multi-buffer refused by the user), or
        /// `Some(true)`/`None` when even multi-buffer cannot hold it (more than
        /// `umem::MAX_PIECES` chunks).
        mb: Option<bool>,
    },
    /// The process lacks capabilities AF_XDP needs.
    MissingCapabilities {
        /// Their names, e.g. `CAP_BPF`.
        missing: Vec<&'static str>,
    },
    /// Creating a map or loading a program failed.
    Bpf {
        /// What the bpf crate said (with the errno and the verifier's log).
        source: bpf::Error,
    },
    /// The redirect program could not be attached to the interface.
    Attach {
        /// The interface.
        iface: String,
        /// Why.
        source: bpf::Error,
    },
    /// `rx_hints=1`, and the kernel or device cannot give them.
    RxHintsUnavailable {
        /// The interface.
        iface: String,
        /// Why not, in words (no BTF, no kfuncs, the device-bound load or attach refused).
        reason: String,
    },
    /// An AF_XDP socket could not be created or bound.
    Bind {
        /// The interface.
        iface: String,
        /// The queue.
        queue: u32,
        /// The failed call's error; its errno picks the advice.
        source: io::Error,
    },
    /// `mode=zerocopy` on a driver without zero-copy AF_XDP.
    NoZeroCopy {
        /// The interface.
        iface: String,
        /// The queue.
        queue: u32,
        /// The bind's error (EOPNOTSUPP or EINVAL).
        source: io::Error,
    },
    /// A UMEM could not be created (mmap, or hugepages asked for and none free).
    Umem {
        /// The failed call's error.
        source: io::Error,
    },
    /// [`crate::open`] of an `af_xdp` spec without its opened device.
    NotOpened {
        /// The interface.
        iface: String,
    },
    /// A mem port's preloaded frames did not fit its UMEM.
    MemPreload {
        /// The `preload=` value.
        preload: u32,
    },

    // ---- capture files ----
    /// A capture file that cannot be read at all.
    Capture {
        /// The reader's error (names the file).
        source: CaptureError,
    },
    /// A record that cannot be read.
    Record {
        /// The reader's error (names the file and the record).
        source: RecordError,
    },
    /// A pcap file whose link type the pcap port does not replay.
    NotEthernet {
        /// The file.
        path: PathBuf,
        /// Its link type.
        link: LinkType,
    },
    /// A record of a link type other than Ethernet, where every record must be Ethernet.
    RecordNotEthernet {
        /// The file.
        path: PathBuf,
        /// The record's index (0-based).
        index: usize,
        /// Its link type.
        link: LinkType,
    },
    /// An output capture could not be created.
    CreateCapture {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },

    // ---- device settings (NAPI) and files ----
    /// A file could not be read or written.
    File {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A sysfs setting could not be written.
    SysfsWrite {
        /// The setting's file.
        path: PathBuf,
        /// The value being written.
        value: u64,
        /// The error.
        source: io::Error,
    },
    /// A sysfs setting that did not read as a number.
    NotANumber {
        /// The setting's file.
        path: PathBuf,
        /// What it held.
        text: String,
    },
    /// A busy-poll state file this crate did not write.
    NapiStateUnknown {
        /// The file.
        path: PathBuf,
    },
    /// A dead run's NAPI settings could not be put back.
    NapiStaleNotRestored {
        /// The interface.
        iface: String,
        /// The processes the state file names.
        pids: Vec<i32>,
        /// The shell commands that put the settings back.
        by_hand: String,
        /// The failed write.
        source: Box<Error>,
    },
    /// This run's NAPI settings could not be put back.
    NapiStillChanged {
        /// The interface.
        iface: String,
        /// The shell commands that put the settings back.
        by_hand: String,
        /// The failed write.
        source: Box<Error>,
    },
    /// The helper process that puts the NAPI settings back could not be started.
    NapiHelper {
        /// What failed, e.g. `fork of the NAPI settings helper`.
        doing: &'static str,
        /// The error.
        source: io::Error,
    },
    /// A capability system call failed.
    Capabilities {
        /// The call, e.g. `capset`.
        call: &'static str,
        /// The error.
        source: io::Error,
    },
    /// Capabilities were still held after they were all dropped.
    CapabilitiesKept {
        /// Their names.
        names: Vec<String>,
    },
}

/// What is wrong with a `steer=` expression.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SteerProblem {
    /// Two `+` with nothing between them (or one at an end).
    EmptyCondition,
    /// `all` together with other conditions.
    AllCombined,
    /// A condition without `:`.
    NotKindValue {
        /// The condition.
        alternative: String,
    },
    /// A condition with an empty value (`udp:` or `udp:53|`).
    EmptyValue {
        /// The condition.
        alternative: String,
    },
    /// A `udp:` or `tcp:` value that is not a port number.
    BadPort {
        /// `udp` or `tcp`.
        kind: &'static str,
        /// The value.
        value: String,
    },
    /// A `proto:` value that is neither a number 0-255 nor a known name.
    BadProto {
        /// The value.
        value: String,
    },
    /// An `ethertype:` value that is not a 16-bit number.
    BadEtherType {
        /// The value.
        value: String,
    },
    /// An `ethertype:` value below 0x0600 (an 802.3 length).
    EtherTypeIsLength {
        /// The value.
        value: String,
    },
    /// A condition kind other than udp, tcp, proto and ethertype.
    UnknownKind {
        /// The kind.
        kind: String,
        /// The condition.
        alternative: String,
    },
    /// More conditions than the program takes.
    TooMany {
        /// How many were given.
        count: usize,
        /// The most allowed.
        max: usize,
    },
}

impl Error {
    /// The errno behind this error, if a system call failed.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::NoSuchInterface { source, .. } | Error::Bpf { source } | Error::Attach { source, .. } => {
                source.raw_os_error()
            }
            Error::Bind { source, .. }
            | Error::NoZeroCopy { source, .. }
            | Error::Umem { source }
            | Error::CreateCapture { source, .. }
            | Error::File { source, .. }
            | Error::SysfsWrite { source, .. }
            | Error::NapiHelper { source, .. }
            | Error::Capabilities { source, .. } => source.raw_os_error(),
            Error::NapiStaleNotRestored { source, .. } | Error::NapiStillChanged { source, .. } => {
                source.raw_os_error()
            }
            _ => None,
        }
    }

    /// The same error of a single value parsed on its own (a queue list, a number, a steer
    /// expression), now naming the whole port text it came from.
    pub(crate) fn in_port(self, text: &str) -> Error {
        match self {
            Error::Devarg { key, value, expected, .. } => {
                Error::Devarg { port: text.to_string(), key, value, expected }
            }
            Error::Steer { expression, problem, .. } => Error::Steer { port: text.to_string(), expression, problem },
            other => other,
        }
    }
}

/// `port 'TEXT': ` before a message about one port text, nothing for a value on its own.
struct PortPrefix<'a>(&'a str);

impl fmt::Display for PortPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, "port '{}': ", self.0)
        }
    }
}

fn steer_message(f: &mut fmt::Formatter<'_>, expression: &str, problem: &SteerProblem) -> fmt::Result {
    match problem {
        SteerProblem::EmptyCondition => write!(f, "steer `{expression}`: empty condition; {STEER_SYNTAX}"),
        SteerProblem::AllCombined => write!(
            f,
            "steer `{expression}`: `all` already steers every frame and cannot be combined with other conditions"
        ),
        SteerProblem::NotKindValue { alternative } => {
            write!(f, "steer: `{alternative}` is not KIND:VALUE; {STEER_SYNTAX}")
        }
        SteerProblem::EmptyValue { alternative } => {
            write!(f, "steer: `{alternative}` has an empty value; {STEER_SYNTAX}")
        }
        SteerProblem::BadPort { kind, value } => {
            write!(f, "steer: `{kind}:{value}`: expected a port number 0-65535, got `{value}`")
        }
        SteerProblem::BadProto { value } => write!(
            f,
            "steer: `proto:{value}`: expected a protocol number 0-255 or one of the names \
             icmp, igmp, ipip, tcp, udp, ipv6, gre, esp, ah, icmpv6, ospf, sctp, udplite"
        ),
        SteerProblem::BadEtherType { value } => {
            write!(f, "steer: `ethertype:{value}`: expected 0x0600-0xffff in hex (0x88b5) or decimal")
        }
        SteerProblem::EtherTypeIsLength { value } => {
            write!(f, "steer: `ethertype:{value}`: values below 0x0600 are 802.3 frame lengths, not EtherTypes")
        }
        SteerProblem::UnknownKind { kind, alternative } => {
            write!(f, "steer: unknown condition kind `{kind}` in `{alternative}`; {STEER_SYNTAX}")
        }
        SteerProblem::TooMany { count, max } => {
            write!(f, "steer: {count} conditions; at most {max} (each is a test in the XDP program)")
        }
    }
}

/// What to do about a failed bind of an AF_XDP socket, by errno.
fn bind_advice(f: &mut fmt::Formatter<'_>, iface: &str, queue: u32, source: &io::Error) -> fmt::Result {
    match source.raw_os_error() {
        Some(libc::EBUSY) => write!(
            f,
            "queue {queue} of {iface} is already taken by another AF_XDP socket (another dataplane or \
             testpmd running on it?)"
        ),
        Some(libc::EPERM) | Some(libc::EACCES) => {
            f.write_str("permission denied: AF_XDP needs root or CAP_NET_ADMIN and CAP_NET_RAW")
        }
        Some(libc::ENOMEM) | Some(libc::ENOBUFS) => write!(
            f,
            "{source}: the kernel could not pin the UMEM; raise the locked-memory limit (ulimit -l unlimited) \
             or give the process CAP_IPC_LOCK"
        ),
        Some(libc::EAFNOSUPPORT) => f.write_str("this kernel has no AF_XDP (CONFIG_XDP_SOCKETS)"),
        _ => write!(f, "{source}"),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotKeyValue { port, item } => write!(f, "port '{port}': '{item}' should be key=value"),
            Error::UnknownPortType { port, kind } => {
                write!(f, "unknown port type '{kind}' in '{port}': expected af_xdp:iface=NAME, pcap:rx=FILE or mem")
            }
            Error::UnknownKey { port, driver, key, known } => {
                write!(f, "port '{port}': unknown key '{key}' for {driver} (known: {known})")
            }
            Error::MissingKey { port, driver, needs, example } => {
                write!(f, "port '{port}': {driver} needs {needs}, e.g. {example}")
            }
            Error::Devarg { port, key, value, expected } => write!(f, "{}{key}={value} {expected}", PortPrefix(port)),
            Error::PreloadExceedsDepth { port, preload, depth } => {
                write!(f, "port '{port}': preload={preload} exceeds depth={depth}")
            }
            Error::Steer { port, expression, problem } => {
                write!(f, "{}", PortPrefix(port))?;
                steer_message(f, expression, problem)
            }
            Error::NoSuchInterface { iface, .. } => {
                write!(f, "no interface named '{iface}' in this network namespace (list them with: ip link show)")
            }
            Error::QueuesUncountable { iface } => write!(
                f,
                "queues=all: cannot count the receive queues of {iface} (/sys/class/net/{iface}/queues/rx-*): no \
                 such interface in this network namespace? (ip link show)"
            ),
            Error::QueueOutOfRange { iface, queue, queue_count } => write!(
                f,
                "queue {queue} is out of range: {iface} has {queue_count} receive queue(s), 0 to {} \
                 (ethtool -l {iface} shows them; ethtool -L changes them)",
                queue_count.saturating_sub(1)
            ),
            Error::MtuTooLarge { iface, mtu, frame_size, room, larger_frame_fits, mb } => {
                if *mb != Some(false) {
                    return write!(
                        f,
                        "the MTU of {iface} ({mtu}) is larger than multi-buffer can receive: at most {} chunks of \
                         {room} bytes ({frame_size}-byte frames after the kernel's headroom): lower the MTU",
                        umem::MAX_PIECES
                    );
                }
                write!(
                    f,
                    "the MTU of {iface} ({mtu}) is larger than a {frame_size}-byte frame can receive ({room} bytes \
                     after the kernel's headroom, with Ethernet and VLAN headers) and mb=0 turns multi-buffer off: \
                     drop mb=0 (frames then span several chunks), "
                )?;
                if *larger_frame_fits {
                    f.write_str("add frame=4096 to the port spec, or lower the MTU")
                } else {
                    write!(f, "or lower the MTU: ip link set {iface} mtu 1500")
                }
            }
            Error::MissingCapabilities { missing } => write!(
                f,
                "AF_XDP needs root, or the capabilities CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF (missing: {}); run \
                 with sudo, or sudo setcap cap_net_admin,cap_net_raw,cap_bpf,cap_ipc_lock+ep $(which dataplane)",
                missing.join(", ")
            ),
            Error::Bpf { source } => write!(f, "{source}"),
            Error::Attach { iface, source } => write!(f, "cannot attach the XDP program to {iface}: {source}"),
            Error::RxHintsUnavailable { iface, reason } => write!(
                f,
                "rx_hints=1, but {iface} cannot give RX hints: {reason} (rx_hints=0, or leave it out to run \
                 without them where they are unavailable)"
            ),
            Error::Bind { iface, queue, source } => {
                write!(f, "af_xdp {iface}/q{queue}: ")?;
                bind_advice(f, iface, *queue, source)
            }
            Error::NoZeroCopy { iface, queue, source } => write!(
                f,
                "af_xdp {iface}/q{queue}: {source}: the driver of {iface} has no zero-copy AF_XDP (use mode=copy \
                 or mode=auto)"
            ),
            Error::Umem { source } => write!(f, "UMEM: {source}"),
            Error::NotOpened { iface } => write!(
                f,
                "af_xdp:{iface}: the interface was not opened: open it once with AfXdpDevice::open, then its \
                 queues with pmd::open"
            ),
            Error::MemPreload { preload } => write!(f, "mem port: could not preload {preload} frames"),
            Error::Capture { source } => write!(f, "{source}"),
            Error::Record { source } => write!(f, "{source}"),
            Error::NotEthernet { path, link } => write!(
                f,
                "{}: link type {} ({}): the pcap port replays Ethernet captures only (`dataplane inspect` reads \
                 this one)",
                path.display(),
                link.name(),
                link.number()
            ),
            Error::RecordNotEthernet { path, index, link } => {
                write!(f, "{}: record {index}: link type {} is not Ethernet", path.display(), link.name())
            }
            Error::CreateCapture { path, source } | Error::File { path, source } => {
                write!(f, "{}: {source}", path.display())
            }
            Error::SysfsWrite { path, value, source } => write!(f, "writing {value} to {}: {source}", path.display()),
            Error::NotANumber { path, text } => write!(f, "{}: '{text}' is not a number", path.display()),
            Error::NapiStateUnknown { path } => write!(
                f,
                "{}: not a state file this dataplane wrote; look at it, put the settings back by hand, and remove it",
                path.display()
            ),
            Error::NapiStaleNotRestored { iface, pids, by_hand, source } => write!(
                f,
                "{source}: could not put back the NAPI settings a dataplane run (pid {pids:?}) left on {iface}; do \
                 it by hand: {by_hand}"
            ),
            Error::NapiStillChanged { iface, by_hand, source } => {
                write!(f, "{source}: the NAPI settings of {iface} are still changed; put them back by hand: {by_hand}")
            }
            Error::NapiHelper { doing, source } => write!(f, "{doing}: {source}"),
            Error::Capabilities { call, source } => write!(f, "{call}: {source}"),
            Error::CapabilitiesKept { names } => write!(f, "capabilities still held after capset: {names:?}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::NoSuchInterface { source, .. } | Error::Bpf { source } | Error::Attach { source, .. } => {
                Some(source)
            }
            Error::Bind { source, .. }
            | Error::NoZeroCopy { source, .. }
            | Error::Umem { source }
            | Error::CreateCapture { source, .. }
            | Error::File { source, .. }
            | Error::SysfsWrite { source, .. }
            | Error::NapiHelper { source, .. }
            | Error::Capabilities { source, .. } => Some(source),
            Error::NapiStaleNotRestored { source, .. } | Error::NapiStillChanged { source, .. } => Some(&**source),
            Error::Capture { source } => Some(source),
            Error::Record { source } => Some(source),
            _ => None,
        }
    }
}

/// Keeps the bpf error whole (its errno, the verifier's log): a map or program that could not
/// be created.
impl From<bpf::Error> for Error {
    fn from(source: bpf::Error) -> Error {
        Error::Bpf { source }
    }
}

impl From<CaptureError> for Error {
    fn from(source: CaptureError) -> Error {
        Error::Capture { source }
    }
}

impl From<RecordError> for Error {
    fn from(source: RecordError) -> Error {
        Error::Record { source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::PortSpec;

    #[test]
    fn a_bad_devarg_names_the_port_the_key_and_the_value() {
        let err = "af_xdp:iface=x,ring=1000".parse::<PortSpec>().unwrap_err();
        match &err {
            Error::Devarg { port, key, value, .. } => {
                assert_eq!((port.as_str(), *key, value.as_str()), ("af_xdp:iface=x,ring=1000", "ring", "1000"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "port 'af_xdp:iface=x,ring=1000': ring=1000 should be a power of two from 64 to 16384"
        );
        let err = "mem:depth=x".parse::<PortSpec>().unwrap_err();
        assert_eq!(err.to_string(), "port 'mem:depth=x': depth=x is not a number from 0 to 4294967295");
        // A value parsed on its own has no port to name.
        let err = crate::spec::parse_queue_list("9-1").unwrap_err();
        assert_eq!(err.to_string(), "queues=9-1 should be N, FIRST-LAST or all, e.g. queues=0-3");
    }

    #[test]
    fn a_missing_interface_says_how_to_list_them_and_keeps_the_lookup() {
        let err = crate::netdev::ifindex("no-such-if0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no interface named 'no-such-if0' in this network namespace (list them with: ip link show)"
        );
        assert_eq!(err.raw_os_error(), Some(libc::ENODEV));
        let source = std::error::Error::source(&err).expect("the lookup is the source");
        assert!(source.to_string().contains("no-such-if0"), "{source}");
    }

    #[test]
    fn bpf_errors_keep_their_errno() {
        let err = Error::from(bpf::Error::XdpAlreadyAttached { interface: "veth0".into(), errno: libc::EBUSY });
        assert_eq!(err.raw_os_error(), Some(libc::EBUSY));
        assert!(err.to_string().contains("interface veth0 already has an XDP program attached"), "{err}");
        assert!(matches!(err, Error::Bpf { source: bpf::Error::XdpAlreadyAttached { .. } }));
    }

    #[test]
    fn bind_errors_give_advice_by_errno() {
        let bind = |errno| Error::Bind { iface: "dut0".into(), queue: 2, source: io::Error::from_raw_os_error(errno) };
        assert_eq!(
            bind(libc::EBUSY).to_string(),
            "af_xdp dut0/q2: queue 2 of dut0 is already taken by another AF_XDP socket (another dataplane or \
             testpmd running on it?)"
        );
        assert!(bind(libc::ENOMEM).to_string().contains("ulimit -l unlimited"));
        assert!(bind(libc::EAFNOSUPPORT).to_string().contains("CONFIG_XDP_SOCKETS"));
        assert_eq!(bind(libc::EPERM).raw_os_error(), Some(libc::EPERM));
    }

    #[test]
    fn mtu_advice_depends_on_whether_a_larger_frame_would_do() {
        let mtu = |mtu, larger_frame_fits| Error::MtuTooLarge {
            iface: "dut1".into(),
            mtu,
            frame_size: 2048,
            room: 1792,
            larger_frame_fits,
            mb: Some(false),
        };
        assert!(mtu(3000, true).to_string().contains("MTU of dut1 (3000)"));
        assert!(mtu(3000, true).to_string().contains("mb=0 turns multi-buffer off: drop mb=0"));
        assert!(mtu(3000, true).to_string().ends_with("add frame=4096 to the port spec, or lower the MTU"));
        assert!(mtu(9000, false).to_string().ends_with("or lower the MTU: ip link set dut1 mtu 1500"));
        let huge = Error::MtuTooLarge {
            iface: "dut1".into(),
            mtu: 65000,
            frame_size: 2048,
            room: 1792,
            larger_frame_fits: false,
            mb: None,
        };
        assert!(huge.to_string().contains("larger than multi-buffer can receive: at most 17 chunks"), "{huge}");
    }
}
