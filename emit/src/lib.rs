//! Emitters: one rule set expressed for the kernel's own classifiers, so the lab can run the
//! same rules through tc and compare.
//!
//! - [`u32`] and [`flower`] write a `tc -b` batch ([`TcBatch`]) with [`compile_tc`];
//!   [`tc`] applies it, probes what the running kernel can do ([`KernelCaps`]) and reads the
//!   per-rule hit counters back.
//! - [`bpf`] generates eBPF for `tc-bpf`, `tc-bpf-per-rule` and `xdp`, loads, pins and
//!   attaches it, and reads its per-rule counters.
//!
//! Every emitter either reproduces [`rules::Rule::matches`] for a rule or refuses the rule
//! with a [`Refusal`] that says why; it never emits a rule that means something else, except
//! for the limits it states in [`TcBatch::notes`].

use std::fmt;
use std::str::FromStr;

pub mod bpf;
pub mod flower;
pub mod tc;
pub mod u32;

pub use tc::{compile_tc, KernelCaps, RuleFilters, Tc, TcBatch};

/// What `dataplane rules compile --to` produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A `tc -b` batch of u32 filters on clsact ingress.
    TcU32,
    /// A `tc -b` batch of flower filters on clsact ingress.
    TcFlower,
    /// One cls_bpf program holding the whole rule set.
    TcBpf,
    /// One cls_bpf program per rule (the 2016 study's eBPF setup).
    TcBpfPerRule,
    /// One XDP program holding the whole rule set.
    Xdp,
}

impl Target {
    pub const ALL: [Target; 5] = [Target::TcU32, Target::TcFlower, Target::TcBpf, Target::TcBpfPerRule, Target::Xdp];

    /// The name on the command line and in `results.csv`.
    pub const fn name(self) -> &'static str {
        match self {
            Target::TcU32 => "tc-u32",
            Target::TcFlower => "tc-flower",
            Target::TcBpf => "tc-bpf",
            Target::TcBpfPerRule => "tc-bpf-per-rule",
            Target::Xdp => "xdp",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Target, String> {
        Target::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
            format!("unknown target `{s}`: expected one of {}", names.join(", "))
        })
    }
}

/// Where the emitted filters go and how actions are spelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmitOptions {
    /// The device whose ingress gets the filters.
    pub dev: String,
    /// `fwd N` sends out of `ports[N]` (a netdev name, in the device's namespace).
    pub ports: Vec<String>,
    /// Drop by redirecting here (a veth whose peer is down: the lab's dead end). Used when
    /// given, whatever the kernel has; otherwise `drop` needs act_gact (or act_police).
    pub drop_dev: Option<String>,
    /// Start the batch with `qdisc replace dev DEV clsact` and `filter del dev DEV ingress`,
    /// so applying it replaces whatever ingress filters were there. Without it, the caller
    /// adds the clsact qdisc and flushes old filters (a leftover filter at a lower prio would
    /// see packets first).
    pub setup_qdisc: bool,
    /// What the kernel that will run the batch has; it decides how `drop` and `pass` are
    /// spelled. [`KernelCaps::running`] probes this machine.
    pub caps: KernelCaps,
}

impl EmitOptions {
    /// Options for `dev` on a kernel with `caps`, no ports, no drop device, with qdisc setup.
    pub fn new(dev: &str, caps: KernelCaps) -> EmitOptions {
        EmitOptions { dev: dev.to_string(), ports: Vec::new(), drop_dev: None, setup_qdisc: true, caps }
    }
}

/// A rule an emitter cannot express faithfully, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Index in [`rules::RuleSet::rules`] (the rule's ordinal in its file).
    pub rule_index: usize,
    /// 1-based line in the rules file.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} (rule {}): {}", self.line, self.rule_index, self.reason)
    }
}

/// Why a rule set cannot be emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmitError {
    /// These rules cannot be expressed for the target (all of them are listed).
    Refused(Vec<Refusal>),
    /// The rule set as a whole cannot be (wrong target for this emitter, too many rules...).
    Unsupported(String),
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::Refused(refusals) => {
                write!(f, "{} rule(s) cannot be expressed:", refusals.len())?;
                for refusal in refusals {
                    write!(f, "\n  {refusal}")?;
                }
                Ok(())
            }
            EmitError::Unsupported(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for EmitError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_round_trip() {
        for target in Target::ALL {
            assert_eq!(target.name().parse::<Target>(), Ok(target));
            assert_eq!(target.to_string(), target.name());
        }
        let err = "tc-bfp".parse::<Target>().unwrap_err();
        assert!(err.contains("tc-u32, tc-flower, tc-bpf, tc-bpf-per-rule, xdp"), "{err}");
    }
}
