//! Why the lab, or one point of its matrix, could not go on. A point that fails is reported
//! in results.csv with the message and the lab moves on; [`Error::is_fatal`] ones stop it.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

use crate::model::{Target, UnknownName};

/// What went wrong, with what the user needs to fix it (the command and what it printed,
/// the file and its errno, the process and the end of its log).
#[derive(Debug)]
pub enum Error {
    /// Ctrl-C or SIGTERM: the lab stops, cleans up and writes what it measured.
    Interrupted,
    /// The test hook (`--inject-failure TARGET[:abort]`) fired.
    Injected {
        /// The whole lab stops, not just the point.
        abort: bool,
    },
    /// Not run as root.
    NotRoot,
    /// A program the lab needs is not on the PATH.
    MissingTool {
        /// The program.
        tool: &'static str,
    },
    /// A command-line value out of range.
    BadArgument {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What would do.
        expected: &'static str,
    },
    /// A name that is none of the known ones.
    UnknownName(UnknownName),
    /// A topology prefix the lab made wrong (a bug: `--prefix` is checked first).
    BadTopologyPrefix {
        /// The prefix.
        prefix: String,
    },
    /// A file or directory of the run.
    File {
        /// The file.
        path: PathBuf,
        /// The errno.
        source: io::Error,
    },
    /// A directory the lab keeps its state in is a symlink or someone else's.
    NotOurDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// The run's private work directory could not be made.
    WorkDir {
        /// Where it was to be made.
        parent: PathBuf,
        /// The errno.
        source: io::Error,
    },
    /// The results could not be written.
    Results {
        /// The `--out` directory.
        dir: PathBuf,
        /// The errno.
        source: io::Error,
    },
    /// Something of this process: a signal handler, its own path, a child's state.
    System {
        /// What was tried.
        what: String,
        /// The errno.
        source: io::Error,
    },
    /// A command could not be started.
    Spawn {
        /// The command, as people would type it.
        what: String,
        /// The errno.
        source: io::Error,
    },
    /// A command ran and failed.
    Command {
        /// The command, as people would type it.
        what: String,
        /// How it ended.
        status: ExitStatus,
        /// The last lines of what it printed (stderr, else stdout).
        output: String,
    },
    /// A process did not finish in time.
    Timeout {
        /// The process.
        name: String,
        /// The limit.
        seconds: f64,
    },
    /// A process of a trial ended, or never got ready, or left no result.
    Process {
        /// The process (`the generator`, `the sink`, a target's name).
        name: String,
        /// What happened.
        event: ProcessEvent,
        /// The last lines of its log.
        log_tail: String,
    },
    /// The generator says it ran for no time at all.
    ZeroSeconds,
    /// A process was reaped already (a bug).
    Reaped {
        /// The process.
        name: String,
    },
    /// A namespace could not be made.
    Namespace {
        /// The namespace.
        ns: String,
        /// The last lines of its holder's log.
        log_tail: String,
    },
    /// An interface did not come up.
    LinkDown {
        /// The interface.
        dev: String,
        /// Its namespace.
        ns: String,
        /// Its operstate at the end.
        operstate: String,
    },
    /// A reading that should be a number is not.
    NotANumber {
        /// What was read.
        what: String,
        /// What was there.
        text: String,
    },
    /// A counter a target should have is not there.
    NoCounter {
        /// Which, and where.
        what: &'static str,
    },
    /// A target was set up, but nothing is attached to the device.
    NotAttached {
        /// The target.
        target: Target,
        /// The device.
        dev: &'static str,
    },
    /// Threaded NAPI was turned on, but no thread appeared.
    NoNapiThread {
        /// The device.
        dev: &'static str,
    },
    /// A kernel target asked to start as a process (a bug).
    NotProcessTarget {
        /// The target.
        target: Target,
    },
    /// A namespace holder was gone before it could be recorded.
    HolderGone {
        /// Its namespace.
        ns: String,
        /// Its pid.
        pid: u32,
    },
    /// A NAPI thread's scheduling could not be read.
    NapiUnreadable {
        /// The thread.
        pid: u32,
    },
    /// /proc/self/stat could not be read.
    SelfUnreadable,
    /// A line of a state file that is not the registry's.
    StateLine {
        /// 1-based.
        line: usize,
        /// The line.
        text: String,
    },
    /// Something that cannot happen did (a bug), named.
    Internal {
        /// What.
        what: &'static str,
    },
    /// A figure with no point on it.
    NothingToPlot,
    /// The plotting library failed.
    Plot {
        /// Its message.
        message: String,
    },
    /// A fatal error after some points were measured: their results are written.
    Stopped {
        /// Why the lab stopped.
        cause: Box<Error>,
        /// Where the partial results are.
        results: PathBuf,
    },
}

/// What happened to a process of a trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessEvent {
    /// It exited while starting.
    ExitedAtStart,
    /// It was not ready in time.
    NotReady {
        /// The limit.
        seconds: u64,
    },
    /// It never said it was ready.
    DidNotStart,
    /// It exited with a failure.
    Failed(ExitStatus),
    /// It printed no result line.
    NoResult,
    /// It printed no count.
    NoCount,
    /// It died while the trial measured.
    Died,
    /// Its output has no processed count.
    NoProcessedCount,
}

impl Error {
    /// Whether the whole lab stops (the user asked to, or the test hook said so), rather
    /// than the one point failing.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Error::Interrupted | Error::Injected { abort: true })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Interrupted => f.write_str("interrupted"),
            Error::Injected { abort: true } => f.write_str("injected abort (test hook)"),
            Error::Injected { abort: false } => f.write_str("injected failure (test hook)"),
            Error::NotRoot => f.write_str(
                "dataplane lab needs root (network namespaces, veth, XDP, tc): run it as root (or with sudo)",
            ),
            Error::MissingTool { tool } => write!(f, "{tool} not found (packages iproute2, ethtool, util-linux)"),
            Error::BadArgument { flag, value, expected } => write!(f, "{flag} {value}: {expected}"),
            Error::UnknownName(error) => write!(f, "{error}"),
            Error::BadTopologyPrefix { prefix } => write!(f, "bad topology prefix {prefix:?}"),
            Error::File { path, source } => write!(f, "{}: {source}", path.display()),
            Error::NotOurDirectory { path } => {
                write!(f, "{}: not a directory of ours (a symlink or someone else's)", path.display())
            }
            Error::WorkDir { parent, source } => write!(f, "a private directory in {}: {source}", parent.display()),
            Error::Results { dir, source } => write!(f, "writing results to {}: {source}", dir.display()),
            Error::System { what, source } => write!(f, "{what}: {source}"),
            Error::Spawn { what, source } => write!(f, "{what}: cannot start: {source}"),
            Error::Command { what, status, output } => write!(f, "{what}: {output} ({status})"),
            Error::Timeout { name, seconds } => write!(f, "{name} did not finish within {seconds:.0} s"),
            Error::Process { name, event, log_tail } => match event {
                ProcessEvent::ExitedAtStart => write!(f, "{name} exited during start-up: {log_tail}"),
                ProcessEvent::NotReady { seconds } => write!(f, "{name} not ready after {seconds} s: {log_tail}"),
                ProcessEvent::DidNotStart => write!(f, "{name} did not start: {log_tail}"),
                ProcessEvent::Failed(status) => write!(f, "{name} failed ({status}): {log_tail}"),
                ProcessEvent::NoResult => write!(f, "no result from {name}: {log_tail}"),
                ProcessEvent::NoCount => write!(f, "no count from {name}: {log_tail}"),
                ProcessEvent::Died => write!(f, "{name} died while measuring: {log_tail}"),
                ProcessEvent::NoProcessedCount => write!(f, "{name}: no processed count in its output: {log_tail}"),
            },
            Error::ZeroSeconds => f.write_str("the generator ran for 0 s"),
            Error::Reaped { name } => write!(f, "{name} already reaped"),
            Error::Namespace { ns, log_tail } => write!(f, "cannot make namespace {ns}: {log_tail}"),
            Error::LinkDown { dev, ns, operstate } => {
                write!(f, "{dev} in {ns} not up after 5 s (operstate {operstate})")
            }
            Error::NotANumber { what, text } => write!(f, "{what}: not a number: {text:?}"),
            Error::NoCounter { what } => f.write_str(what),
            Error::NotAttached { target, dev } => {
                write!(f, "rules compile --to {target} ran but nothing is attached to {dev}")
            }
            Error::NoNapiThread { dev } => {
                write!(f, "dedicated placement: no napi/{dev} thread appeared after threaded=1")
            }
            Error::NotProcessTarget { target } => write!(f, "{target} is not a process target"),
            Error::HolderGone { ns, pid } => write!(f, "{ns}: holder {pid} is gone"),
            Error::NapiUnreadable { pid } => write!(f, "NAPI thread {pid}: cannot read its scheduling"),
            Error::SelfUnreadable => f.write_str("cannot read /proc/self/stat"),
            Error::StateLine { line, text } => write!(f, "line {line}: cannot read {text:?}"),
            Error::Internal { what } => f.write_str(what),
            Error::NothingToPlot => f.write_str("nothing to plot"),
            Error::Plot { message } => f.write_str(message),
            Error::Stopped { cause, results } => write!(f, "{cause}; partial results in {}", results.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::UnknownName(error) => Some(error),
            Error::File { source, .. }
            | Error::WorkDir { source, .. }
            | Error::Results { source, .. }
            | Error::System { source, .. }
            | Error::Spawn { source, .. } => Some(source),
            Error::Stopped { cause, .. } => Some(cause.as_ref()),
            _ => None,
        }
    }
}

impl From<UnknownName> for Error {
    fn from(error: UnknownName) -> Self {
        Error::UnknownName(error)
    }
}
