//! What can go wrong while a dataplane is set up (before any frame moves): the core list,
//! the classifier. Rule-by-rule problems are [`ActionError`](crate::pipeline::classify::ActionError)s,
//! rewrite arguments [`RewriteError`](crate::pipeline::rewrite::RewriteError)s.

use std::fmt;

/// A setting the engine cannot run with; the message says what would work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// Not a CPU list such as `1`, `0-3` or `0,2-3`.
    BadCoreList {
        /// The list as given.
        text: String,
    },
    /// A core this process may not run on (offline, or outside its affinity mask).
    CoreUnavailable {
        /// The core asked for.
        core: usize,
        /// The cores this process may run on.
        available: Vec<usize>,
        /// The highest of them, when the list asked for a range beyond it.
        highest: Option<usize>,
    },
    /// A classifier name other than `fast` or `linear`.
    UnknownClassifier {
        /// The name as given.
        name: String,
    },
    /// The fast classifier cannot hold the rule set (the linear one can).
    ClassifierTooLarge(rules::fast::TooLarge),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::BadCoreList { text } => write!(f, "'{text}' is not a core list like 1, 0-3 or 0,2-3"),
            SetupError::CoreUnavailable { core, available, highest: Some(highest) } => {
                write!(f, "core {core} is not available to this process (available: {available:?}; highest {highest})")
            }
            SetupError::CoreUnavailable { core, available, highest: None } => {
                write!(f, "core {core} is not available to this process (available: {available:?})")
            }
            SetupError::UnknownClassifier { name } => {
                write!(f, "unknown classifier '{name}': expected fast or linear")
            }
            SetupError::ClassifierTooLarge(too_large) => write!(f, "{too_large} (--classifier linear)"),
        }
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetupError::ClassifierTooLarge(too_large) => Some(too_large),
            _ => None,
        }
    }
}
