//! Running the kernel's tools (tc, ip, unshare) with their failures as [`Error`]s that carry
//! the command line, the exit status and stderr.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::error::Error;

/// Runs `command` to its end with `input` on its stdin (when given), and returns its stdout;
/// a failure to start, to write or a non-zero exit is an [`Error`] with the command line
/// (`shown`), the exit status and stderr.
pub(crate) fn run(
    command: &mut Command,
    shown: &str,
    input: Option<&str>,
    hint: &'static str,
) -> Result<String, Error> {
    let stdin = if input.is_some() { Stdio::piped() } else { Stdio::null() };
    let mut child = command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn { command: shown.to_string(), source })?;
    let written = match (child.stdin.take(), input) {
        (Some(mut stdin), Some(text)) => stdin.write_all(text.as_bytes()),
        _ => Ok(()),
    };
    let output =
        child.wait_with_output().map_err(|source| Error::Io { what: format!("wait for `{shown}`"), source })?;
    if !output.status.success() {
        return Err(Error::Command {
            command: shown.to_string(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            hint,
        });
    }
    written.map_err(|source| Error::Io { what: format!("write the input of `{shown}`"), source })?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
