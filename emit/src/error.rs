//! What can go wrong while emitting, loading or applying rules for the kernel: [`Error`],
//! and [`Refusal`], one rule an emitter cannot express.

use std::fmt;
use std::io;
use std::process::ExitStatus;

use crate::target::{Target, UnknownTarget};

/// A rule an emitter cannot express faithfully, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Index in [`rules::RuleSet::rules`] (the rule's ordinal in its file).
    pub rule_index: usize,
    /// 1-based line in the rules file.
    pub line: usize,
    /// What the target lacks, in words.
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} (rule {}): {}", self.line, self.rule_index, self.reason)
    }
}

/// Why a rule set could not be emitted, loaded, attached or read back.
#[derive(Debug)]
pub enum Error {
    /// Rules the target cannot express (every one of them); nothing was emitted or loaded.
    Refused {
        /// The target asked for.
        target: Target,
        /// The rules it cannot express, in matching order.
        refusals: Vec<Refusal>,
    },
    /// The rule set needs more tc prios than there are (16 bits; a rule takes one or more).
    OutOfPrios {
        /// The target asked for.
        target: Target,
        /// Rules in the set.
        rules: usize,
        /// The prio the first rule was to take.
        first_prio: u32,
    },
    /// More rules test ports or TCP flags than u32 has hash tables for.
    OutOfHashTables {
        /// The most such rules a batch holds.
        limit: u32,
    },
    /// More rules than the per-rule counters (a BPF array) can index.
    TooManyRules {
        /// Rules in the set.
        rules: usize,
    },
    /// A BPF target handed to the tc batch writer.
    NotTcBatch(Target),
    /// A tc batch target handed to the eBPF emitters.
    NotBpf(Target),
    /// A name that is no target.
    UnknownTarget(UnknownTarget),
    /// The running kernel lacks what the target needs.
    CannotApply {
        /// The target asked for.
        target: Target,
        /// The kernel module (or feature) it lacks.
        missing: &'static str,
    },
    /// A program (tc, ip, unshare) could not be started.
    Spawn {
        /// The command line, as it would be typed.
        command: String,
        /// Why it did not start (errno).
        source: io::Error,
    },
    /// A command ran and failed.
    Command {
        /// The command line (a `tc -b` batch inline).
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// What it printed on stderr.
        stderr: String,
        /// What usually causes this, or "".
        hint: &'static str,
    },
    /// The kernel probe's output lacks the answer for one capability.
    ProbeAnswer {
        /// The capability ("cls_flower").
        name: &'static str,
    },
    /// A bpf(2) step failed: loading (with the verifier's log), pinning, attaching, a map.
    Bpf {
        /// The step, in words.
        what: String,
        /// The bpf crate's error (errno, verifier log).
        source: ::bpf::Error,
    },
    /// A generated program does not assemble: a bug of the code generator.
    Assemble {
        /// The program's name.
        program: String,
        /// What the assembler found.
        source: ::bpf::AsmError,
    },
    /// A file-system or pipe step failed.
    Io {
        /// The step, in words (with the path).
        what: String,
        /// The error (errno).
        source: io::Error,
    },
    /// A thread loading per-rule programs panicked.
    LoaderThread,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Refused { target, refusals } => {
                write!(f, "{} rule(s) cannot be expressed for {target}:", refusals.len())?;
                for refusal in refusals {
                    write!(f, "\n  {refusal}")?;
                }
                Ok(())
            }
            Error::OutOfPrios { target, rules, first_prio } => write!(
                f,
                "{rules} rules from prio {first_prio} need more than tc's 65535 prios for {target} (a rule takes \
                 one or more): split the set, or use a target that holds it in one program (tc-bpf, xdp)"
            ),
            Error::OutOfHashTables { limit } => write!(
                f,
                "more than {limit} rules test ports or TCP flags: u32 hash table ids are 12 bits \
                 (tc-flower or a BPF target holds such sets)"
            ),
            Error::TooManyRules { rules } => {
                write!(f, "{rules} rules: the per-rule counters (a BPF array) hold at most 2^32 - 1")
            }
            Error::NotTcBatch(target) => write!(f, "{target} is a BPF program, not a tc batch (emit::bpf compiles it)"),
            Error::NotBpf(target) => write!(f, "{target} is not an eBPF target (tc-bpf, tc-bpf-per-rule or xdp)"),
            Error::UnknownTarget(error) => write!(f, "{error}"),
            Error::CannotApply { target, missing } => {
                write!(f, "this kernel has no {missing}: the {target} batch cannot be applied here")
            }
            Error::Spawn { command, source } => {
                let program = command.split_whitespace().next().unwrap_or_default();
                let package = match program {
                    "tc" | "ip" => " (is iproute2 installed and on PATH?)",
                    "unshare" => " (is util-linux installed and on PATH?)",
                    _ => "",
                };
                write!(f, "cannot run `{command}`: {source}{package}")
            }
            Error::Command { command, status, stderr, hint } => {
                write!(f, "`{command}` failed ({status}): {}", stderr.trim())?;
                if !hint.is_empty() {
                    write!(f, " ({hint})")?;
                }
                Ok(())
            }
            Error::ProbeAnswer { name } => {
                write!(f, "kernel probe: no answer for {name} (the probe's output was cut short)")
            }
            Error::Bpf { what, source } => write!(f, "{what}: {source}"),
            Error::Assemble { program, source } => {
                write!(f, "assemble `{program}`: {source} (a bug of the eBPF code generator)")
            }
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::LoaderThread => f.write_str("a thread loading BPF programs panicked (its message is above)"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Spawn { source, .. } | Error::Io { source, .. } => Some(source),
            Error::Bpf { source, .. } => Some(source),
            Error::Assemble { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<UnknownTarget> for Error {
    fn from(error: UnknownTarget) -> Error {
        Error::UnknownTarget(error)
    }
}
