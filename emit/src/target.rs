//! What `dataplane rules compile --to` can produce: [`Target`], by name.

use std::fmt;
use std::str::FromStr;

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
    /// Every target, in the order the CLI and the lab list them.
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

/// A name that is none of the [`Target`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownTarget {
    /// The name given.
    pub found: String,
}

impl fmt::Display for UnknownTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown target `{}`: expected one of ", self.found)?;
        for (index, target) in Target::ALL.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            f.write_str(target.name())?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownTarget {}

impl FromStr for Target {
    type Err = UnknownTarget;

    fn from_str(s: &str) -> Result<Target, UnknownTarget> {
        Target::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| UnknownTarget { found: s.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_round_trip() {
        for target in Target::ALL {
            assert_eq!(target.name().parse::<Target>(), Ok(target));
            assert_eq!(target.to_string(), target.name());
        }
        let err = "tc-bfp".parse::<Target>().unwrap_err().to_string();
        assert_eq!(err, "unknown target `tc-bfp`: expected one of tc-u32, tc-flower, tc-bpf, tc-bpf-per-rule, xdp");
    }
}
