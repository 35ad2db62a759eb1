//! [`Error`]: every error of this crate in one type, for callers that keep one (each
//! function returns the precise one: [`ParseError`]s, [`TooLarge`], ...).

use std::fmt;

use crate::fast::TooLarge;
use crate::gen::NotClassBench;
use crate::lex::{ParseError, UnknownName};

/// Any error of the rules crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A rules or trace file with errors: all of them, each at its `file:line:col`.
    Parse(Vec<ParseError>),
    /// The fast classifier cannot hold the rule set (the linear one can).
    TooLarge(TooLarge),
    /// A name (rules format, rule-set style) that is none of the known ones.
    UnknownName(UnknownName),
    /// A rule set that has no ClassBench form.
    NotClassBench(NotClassBench),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // One error per line, each starting with its `file:line:col:`.
            Error::Parse(errors) => {
                for (index, error) in errors.iter().enumerate() {
                    if index > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{error}")?;
                }
                Ok(())
            }
            Error::TooLarge(error) => write!(f, "{error}"),
            Error::UnknownName(error) => write!(f, "{error}"),
            Error::NotClassBench(error) => write!(f, "{error}"),
        }
    }
}

/// Transparent: `Display` is the inner error's own, so there is no further source to show.
impl std::error::Error for Error {}

impl From<Vec<ParseError>> for Error {
    fn from(errors: Vec<ParseError>) -> Error {
        Error::Parse(errors)
    }
}

impl From<TooLarge> for Error {
    fn from(error: TooLarge) -> Error {
        Error::TooLarge(error)
    }
}

impl From<UnknownName> for Error {
    fn from(error: UnknownName) -> Error {
        Error::UnknownName(error)
    }
}

impl From<NotClassBench> for Error {
    fn from(error: NotClassBench) -> Error {
        Error::NotClassBench(error)
    }
}
