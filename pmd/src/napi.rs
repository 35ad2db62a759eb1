//! The device's NAPI settings for preferred busy polling, set for a run and put back after.
//!
//! Preferred busy polling wants the device to hold its interrupts back while the application
//! polls: `napi_defer_hard_irqs` (how many empty polls before interrupts come back) and
//! `gro_flush_timeout` (ns the device waits before it takes over again) in
//! `/sys/class/net/DEV/` (Documentation/networking/napi.rst, "Preferred busy polling").
//! Those are the device's, not the process's, so the originals must come back:
//!
//! - at a normal exit, or an error after setup: by a small helper process forked at setup
//!   ([`spawn_restorer`]), which waits for the run to end (its pipe closes, however the run
//!   ends, `kill -9` included) and writes the originals back. A process, not a thread: the
//!   run drops every capability after setup, and sysfs net attributes need CAP_NET_ADMIN at
//!   write time.
//! - if the helper is killed too: the originals are in a state file,
//!   `/run/dataplane/IFACE.NETNS.busy-poll` (NETNS: the network namespace's inode), and the
//!   next `dataplane run` on that interface writes them back when no recorded process is
//!   alive ([`restore_stale`]). Every message says the exact commands to do it by hand.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::error::Error;

/// The two settings, as the kernel shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NapiValues {
    /// `napi_defer_hard_irqs`: empty polls before interrupts come back.
    pub defer_hard_irqs: u64,
    /// `gro_flush_timeout`: nanoseconds the device waits before it takes over again.
    pub gro_flush_timeout: u64,
}

impl NapiValues {
    /// For the run: interrupts stay off for 2 empty polls and 200 µs (the values DPDK's
    /// af_xdp guide gives for preferred busy polling).
    pub const BUSY_POLL: NapiValues = NapiValues { defer_hard_irqs: 2, gro_flush_timeout: 200_000 };
}

const DEFER: &str = "napi_defer_hard_irqs";
const GRO: &str = "gro_flush_timeout";
const STATE_DIR: &str = "/run/dataplane";

fn sysfs(iface: &str, file: &str) -> PathBuf {
    PathBuf::from(format!("/sys/class/net/{iface}/{file}"))
}

/// Reads the interface's current settings.
pub fn read(iface: &str) -> Result<NapiValues, Error> {
    let one = |file: &str| -> Result<u64, Error> {
        let path = sysfs(iface, file);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(source) => return Err(Error::File { path, source }),
        };
        text.trim().parse().map_err(|_| Error::NotANumber { text: text.trim().to_string(), path })
    };
    Ok(NapiValues { defer_hard_irqs: one(DEFER)?, gro_flush_timeout: one(GRO)? })
}

fn write(iface: &str, values: NapiValues) -> Result<(), Error> {
    for (file, value) in [(DEFER, values.defer_hard_irqs), (GRO, values.gro_flush_timeout)] {
        let path = sysfs(iface, file);
        if let Err(source) = fs::write(&path, format!("{value}\n")) {
            return Err(Error::SysfsWrite { path, value, source });
        }
    }
    Ok(())
}

/// The shell commands that put `values` back on `iface`.
pub fn restore_commands(iface: &str, values: NapiValues) -> String {
    format!(
        "echo {} > {}; echo {} > {}",
        values.defer_hard_irqs,
        sysfs(iface, DEFER).display(),
        values.gro_flush_timeout,
        sysfs(iface, GRO).display()
    )
}

/// The state file of `iface` in this network namespace.
pub fn state_path(iface: &str) -> PathBuf {
    let netns = fs::metadata("/proc/self/ns/net").map(|m| m.ino()).unwrap_or(0);
    PathBuf::from(format!("{STATE_DIR}/{iface}.{netns}.busy-poll"))
}

/// What a state file records: the originals and who changed them.
#[derive(Debug, PartialEq, Eq)]
struct State {
    pids: Vec<i32>,
    original: NapiValues,
}

impl State {
    fn text(&self, iface: &str) -> String {
        let pids: Vec<String> = self.pids.iter().map(i32::to_string).collect();
        format!(
            "# dataplane run changed these settings of {iface}; the originals are below.\n\
             # By hand: {}\npids={}\n{DEFER}={}\n{GRO}={}\n",
            restore_commands(iface, self.original),
            pids.join(","),
            self.original.defer_hard_irqs,
            self.original.gro_flush_timeout
        )
    }

    fn parse(text: &str) -> Option<State> {
        let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('='));
        let pids = field("pids")?.split(',').map(|p| p.trim().parse().ok()).collect::<Option<Vec<i32>>>()?;
        let original =
            NapiValues { defer_hard_irqs: field(DEFER)?.parse().ok()?, gro_flush_timeout: field(GRO)?.parse().ok()? };
        Some(State { pids, original })
    }
}

/// Whether `pid` runs: a zombie does not (a killed helper whose new parent has not reaped it
/// yet, as a container's init may never do).
fn alive(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // `pid (comm) S ...`: the state follows the last ')' (comm may hold one).
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    pid > 0 && !matches!(state, Some("Z" | "X"))
}

/// What [`restore_stale`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Stale {
    /// No state file: nothing to do.
    None,
    /// A run that is still alive changed the settings: leave them to it.
    Live(i32),
    /// A dead run's originals were written back (the message says what).
    Restored(String),
}

/// Puts back what a run that died without cleaning up (its helper killed too) changed.
pub fn restore_stale(iface: &str) -> Result<Stale, Error> {
    let path = state_path(iface);
    let Ok(text) = fs::read_to_string(&path) else { return Ok(Stale::None) };
    let Some(state) = State::parse(&text) else {
        return Err(Error::NapiStateUnknown { path });
    };
    if let Some(&pid) = state.pids.iter().find(|&&pid| alive(pid)) {
        return Ok(Stale::Live(pid));
    }
    write(iface, state.original).map_err(|e| Error::NapiStaleNotRestored {
        iface: iface.to_string(),
        pids: state.pids.clone(),
        by_hand: restore_commands(iface, state.original),
        source: Box::new(e),
    })?;
    let _ = fs::remove_file(&path);
    Ok(Stale::Restored(format!(
        "dataplane: {iface}: put back napi_defer_hard_irqs {} and gro_flush_timeout {} that a run which did not \
         exit cleanly (pid {:?}) left changed",
        state.original.defer_hard_irqs, state.original.gro_flush_timeout, state.pids
    )))
}

/// The settings of one interface changed for this run; dropping it puts them back (use
/// [`spawn_restorer`] before capabilities are dropped).
#[derive(Debug)]
pub struct NapiTuning {
    iface: String,
    original: NapiValues,
    state: PathBuf,
}

impl NapiTuning {
    /// Records the originals in the state file, then sets `values`.
    pub fn apply(iface: &str, values: NapiValues) -> Result<NapiTuning, Error> {
        let original = read(iface)?;
        let state = state_path(iface);
        fs::create_dir_all(STATE_DIR).map_err(|source| Error::File { path: STATE_DIR.into(), source })?;
        let record = State { pids: vec![std::process::id() as i32], original };
        if let Err(source) = fs::write(&state, record.text(iface)) {
            return Err(Error::File { path: state, source });
        }
        let tuning = NapiTuning { iface: iface.to_string(), original, state };
        write(iface, values)?;
        Ok(tuning)
    }

    /// The interface changed.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// The settings it had before.
    pub fn original(&self) -> NapiValues {
        self.original
    }

    fn restore(&self) -> Result<(), Error> {
        write(&self.iface, self.original).map_err(|e| Error::NapiStillChanged {
            iface: self.iface.clone(),
            by_hand: restore_commands(&self.iface, self.original),
            source: Box::new(e),
        })?;
        let _ = fs::remove_file(&self.state);
        Ok(())
    }
}

impl Drop for NapiTuning {
    fn drop(&mut self) {
        if let Err(err) = self.restore() {
            eprintln!("dataplane: {err}");
        }
    }
}

/// A forked helper that puts the settings back once the run ends; dropping it ends the run
/// for the helper and waits until the settings are back.
pub struct Restorer {
    pid: libc::pid_t,
    write_end: Option<std::os::fd::OwnedFd>,
}

/// What the helper does, prepared before the fork: after it, only async-signal-safe calls
/// (open, write, close, unlink, _exit) on these bytes.
struct Prepared {
    writes: Vec<(CString, Vec<u8>)>,
    state: CString,
    failure: Vec<u8>,
}

/// Forks the helper that owns the restoring of `tunings` from now on. Call it while the
/// process has one thread and its capabilities (it keeps them for the sysfs writes).
pub fn spawn_restorer(tunings: Vec<NapiTuning>) -> Result<Restorer, Error> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let prepared: Vec<Prepared> = tunings
        .iter()
        .map(|t| Prepared {
            writes: [(DEFER, t.original.defer_hard_irqs), (GRO, t.original.gro_flush_timeout)]
                .iter()
                .map(|&(file, value)| {
                    let path = CString::new(sysfs(&t.iface, file).as_os_str().as_bytes()).expect("no NUL in a path");
                    (path, format!("{value}\n").into_bytes())
                })
                .collect(),
            state: CString::new(t.state.as_os_str().as_bytes()).expect("no NUL in a path"),
            failure: format!(
                "dataplane: could not put back the NAPI settings of {}; by hand: {}\n",
                t.iface,
                restore_commands(&t.iface, t.original)
            )
            .into_bytes(),
        })
        .collect();
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        let source = io::Error::last_os_error();
        return Err(Error::NapiHelper { doing: "pipe for the NAPI settings helper", source });
    }
    // SAFETY: the child runs only async-signal-safe calls on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let source = io::Error::last_os_error();
        return Err(Error::NapiHelper { doing: "fork of the NAPI settings helper", source });
    }
    if pid == 0 {
        // SAFETY: in the child: fds are this process's own; nothing here allocates.
        unsafe { run_helper(fds[0], &prepared) }
    }
    // SAFETY: the read end is ours to close (the child has its copy).
    unsafe { libc::close(fds[0]) };
    // The helper restores from now on; the parent's copies must not. The state files name
    // it too: a next run restores only when neither process lives.
    for tuning in tunings {
        let record = State { pids: vec![std::process::id() as i32, pid], original: tuning.original };
        if let Err(err) = fs::write(&tuning.state, record.text(&tuning.iface)) {
            eprintln!("dataplane: {}: {err}", tuning.state.display());
        }
        std::mem::forget(tuning);
    }
    // SAFETY: fds[1] was just made by pipe2 and is owned by nobody else.
    let write_end = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    Ok(Restorer { pid, write_end: Some(write_end) })
}

/// The helper: closes everything of the run (its sockets and bpf_links must not outlive the
/// run), ignores the terminal's signals, waits for the pipe to close, restores, exits.
///
/// # Safety
/// Only in the child of a fork, with `read_fd` the pipe's read end.
unsafe fn run_helper(read_fd: i32, prepared: &[Prepared]) -> ! {
    const KEEP: i32 = 3;
    libc::dup2(read_fd, KEEP);
    // Every fd above 3: the run's sockets, maps, links and the pipe's write end.
    libc::syscall(libc::SYS_close_range, (KEEP + 1) as libc::c_uint, libc::c_uint::MAX, 0 as libc::c_uint);
    // Ctrl-C reaches the whole process group: the helper must outlive the run.
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        libc::signal(signal, libc::SIG_IGN);
    }
    let name = b"dataplane-napi\0";
    libc::prctl(libc::PR_SET_NAME, name.as_ptr());
    let mut byte = 0u8;
    loop {
        let n = libc::read(KEEP, (&mut byte as *mut u8).cast(), 1);
        if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
            break;
        }
    }
    for item in prepared {
        let mut ok = true;
        for (path, bytes) in &item.writes {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            ok &= fd >= 0 && libc::write(fd, bytes.as_ptr().cast(), bytes.len()) == bytes.len() as isize;
            if fd >= 0 {
                libc::close(fd);
            }
        }
        if ok {
            libc::unlink(item.state.as_ptr());
        } else {
            libc::write(2, item.failure.as_ptr().cast(), item.failure.len());
        }
    }
    libc::_exit(0)
}

impl Restorer {
    /// The helper's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

impl Drop for Restorer {
    fn drop(&mut self) {
        self.write_end = None;
        let mut status = 0;
        // SAFETY: waits for our own child; `status` is writable.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_read_back_what_they_record() {
        let state = State { pids: vec![12, 34], original: NapiValues { defer_hard_irqs: 0, gro_flush_timeout: 5 } };
        let text = state.text("eth1");
        assert!(text.contains("echo 0 > /sys/class/net/eth1/napi_defer_hard_irqs"), "{text}");
        assert_eq!(State::parse(&text), Some(state));
        assert_eq!(State::parse("pids=x\nnapi_defer_hard_irqs=1\ngro_flush_timeout=2\n"), None);
        assert_eq!(State::parse("pids=1\n"), None);
    }
}
