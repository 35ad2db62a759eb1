//! Child processes of a test: one-shot commands, and long-running ones that never outlive it.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// SIGKILL's number on Linux (signal(7)); the others come from the caller.
const SIGKILL: i32 = 9;

/// Runs `program args...` to the end (setup only): panics with its stderr if it cannot start
/// or fails; returns its stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Bytes a command printed, as text (invalid UTF-8 replaced).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Sends `signal` to `pid` with kill(1), so the tests need no unsafe code (unsafe lives in
/// umem, bpf, pmd and the checksum). A process already gone is not an error.
pub fn kill(pid: u32, signal: i32) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).stderr(Stdio::null()).status();
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failing test leaves
/// nothing running. Its stdout and stderr are captured for [`Proc::finish`].
pub struct Proc {
    child: Option<Child>,
    what: String,
}

impl Proc {
    /// Starts `cmd` with stdin closed and its output captured; `what` names it in messages.
    pub fn spawn(mut cmd: Command, what: &str) -> Proc {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {what}: {e}"));
        Proc { child: Some(child), what: what.to_string() }
    }

    /// The child's pid (for `ip netns exec NS program`, the program's own: it execs).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running Proc").id()
    }

    /// Sends `signal` (a number, e.g. `libc::SIGINT`) to the child.
    pub fn signal(&self, signal: i32) {
        kill(self.pid(), signal);
    }

    /// The exit status, if the child has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().expect("a running Proc").try_wait().expect("waitpid")
    }

    /// Sends `signal` (unless 0), waits up to `timeout` for the exit and returns what the
    /// process printed. Still running then: killed, and the test fails showing its output.
    pub fn finish(mut self, signal: i32, timeout: Duration) -> Output {
        if signal != 0 {
            self.signal(signal);
        }
        let start = Instant::now();
        while self.exited().is_none() {
            if start.elapsed() > timeout {
                self.signal(SIGKILL);
                let out = self.collect();
                panic!(
                    "{} did not exit within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                    self.what,
                    text(&out.stdout),
                    text(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.collect()
    }

    fn collect(&mut self) -> Output {
        let mut child = self.child.take().expect("a running Proc");
        let status = child.wait().expect("waitpid");
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        child.stdout.take().expect("piped stdout").read_to_end(&mut stdout).expect("reading stdout");
        child.stderr.take().expect("piped stderr").read_to_end(&mut stderr).expect("reading stderr");
        Output { status, stdout, stderr }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
