//! The one place errors become text: every subcommand ends in a [`CliError`], which `main`
//! prints. An error about a file starts with the file, as compilers print theirs:
//! `PATH:LINE:COL: message` where it has a position, `PATH: message` where it is about the
//! whole file; editors and `grep -n`-style tools jump to it. Anything else is printed after
//! `dataplane: error: `.

use std::fmt;

/// What a subcommand failed with, ready to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliError {
    /// About a file: every line starts with its `PATH:LINE:COL:` (or `PATH:` for the whole
    /// file). Printed as it is.
    File(String),
    /// Anything else. Printed after `dataplane: error: `.
    Other(String),
}

impl CliError {
    /// Lines about a file, each already starting with its position.
    pub fn file_lines(lines: &[String]) -> CliError {
        CliError::File(lines.join("\n"))
    }

    /// The text `main` prints on stderr.
    pub fn printed(&self) -> String {
        match self {
            CliError::File(lines) => lines.clone(),
            CliError::Other(message) => format!("dataplane: error: {message}"),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::File(text) | CliError::Other(text) => f.write_str(text),
        }
    }
}

impl From<String> for CliError {
    fn from(message: String) -> Self {
        CliError::Other(message)
    }
}

impl From<&str> for CliError {
    fn from(message: &str) -> Self {
        CliError::Other(message.to_string())
    }
}

/// Errors of the library crates that never name a file: their message, after the prefix.
macro_rules! other_from {
    ($($error:ty),* $(,)?) => {
        $(impl From<$error> for CliError {
            fn from(error: $error) -> Self {
                CliError::Other(error.to_string())
            }
        })*
    };
}

other_from!(
    traffic::SinkError,
    traffic::TemplateError,
    engine::SetupError,
    engine::pipeline::rewrite::RewriteError,
    lab::Error,
    std::io::Error,
);

impl From<traffic::GenError> for CliError {
    fn from(error: traffic::GenError) -> Self {
        match error {
            // The capture file's own message starts with its path.
            traffic::GenError::CaptureCreate(_) | traffic::GenError::CaptureWrite { .. } => {
                CliError::File(error.to_string())
            }
            other => CliError::Other(other.to_string()),
        }
    }
}
