//! The tc side of the kernel emitters: [`compile_tc`] writes a rule set as a `tc -b` batch
//! (u32 or flower, see [`crate::u32`] and [`crate::flower`]), [`Tc`] applies it, here or in a
//! network namespace, and reads its per-rule hit counters back.

use std::collections::BTreeMap;
use std::process::Command;

use crate::batch::{EmitOptions, TcBatch};
use crate::command::run;
use crate::error::Error;
use crate::target::Target;
use crate::{flower, u32};
use rules::RuleSet;

/// Writes `set` as a `tc -b` batch for `target` (`tc-u32` or `tc-flower`). Rules it cannot
/// express faithfully are all reported in [`Error::Refused`].
///
/// The batch is written whatever the running kernel is; whether it can be applied here is
/// [`KernelCaps::can_apply`](crate::KernelCaps::can_apply).
pub fn compile_tc(set: &RuleSet, target: Target, opts: &EmitOptions) -> Result<TcBatch, Error> {
    match target {
        Target::TcU32 => u32::compile(set, opts),
        Target::TcFlower => flower::compile(set, opts),
        other => Err(Error::NotTcBatch(other)),
    }
}

/// Runs `tc` here or in a named network namespace (`ip netns exec`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tc {
    netns: Option<String>,
}

impl Tc {
    /// The current network namespace.
    pub fn here() -> Tc {
        Tc { netns: None }
    }

    /// A namespace made with `ip netns add NAME`.
    pub fn in_netns(name: &str) -> Tc {
        Tc { netns: Some(name.to_string()) }
    }

    /// `tc ARGS`, or `ip netns exec NS tc ARGS`, and the command line as it would be typed.
    fn command(&self, args: &[&str]) -> (Command, String) {
        let (mut command, mut shown) = match &self.netns {
            None => (Command::new("tc"), "tc".to_string()),
            Some(ns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", ns, "tc"]);
                (command, format!("ip netns exec {ns} tc"))
            }
        };
        command.args(args);
        for arg in args {
            shown.push(' ');
            shown.push_str(arg);
        }
        (command, shown)
    }

    /// Applies a batch with `tc -b -`; stops at the first failing line, and the error quotes
    /// tc's message (which names the line as `-:N`).
    pub fn apply(&self, text: &str) -> Result<(), Error> {
        let (mut command, shown) = self.command(&["-b", "-"]);
        run(&mut command, &shown, Some(text), "").map(drop)
    }

    /// Packets counted by the first action of each ingress filter on `dev`, summed per prio.
    ///
    /// Reads `tc -s filter show` as text: iproute2 6.1 prints invalid JSON (`-j`) for a u32
    /// knode with a `link ... offset`, and the text form is the same for u32 and flower.
    pub fn filter_packets(&self, dev: &str) -> Result<BTreeMap<u32, u64>, Error> {
        let (mut command, shown) = self.command(&["-s", "filter", "show", "dev", dev, "ingress"]);
        let out = run(&mut command, &shown, None, "")?;
        Ok(parse_filter_stats(&out))
    }

    /// Hits per rule (file order) of a batch applied on its device: `None` for a rule whose
    /// filters carry no counting action (see [`RuleFilters::counted`](crate::RuleFilters::counted));
    /// `Some(0)` for a rule that can never match and was left out.
    pub fn rule_hits(&self, batch: &TcBatch) -> Result<Vec<Option<u64>>, Error> {
        let per_prio = self.filter_packets(&batch.dev)?;
        Ok(batch
            .rules
            .iter()
            .map(|r| r.counted.then(|| r.prios.iter().map(|p| per_prio.get(p).copied().unwrap_or(0)).sum()))
            .collect())
    }
}

/// [`Tc::apply`] in the current network namespace.
pub fn apply_batch(text: &str) -> Result<(), Error> {
    Tc::here().apply(text)
}

/// [`Tc::rule_hits`] in the current network namespace.
pub fn read_counters(batch: &TcBatch) -> Result<Vec<Option<u64>>, Error> {
    Tc::here().rule_hits(batch)
}

/// `filter protocol ip pref 2 u32 ...` sets the prio; the `Sent B bytes P pkt` line after
/// `action order 1:` is that filter's count.
fn parse_filter_stats(text: &str) -> BTreeMap<u32, u64> {
    let mut per_prio = BTreeMap::new();
    let mut prio = None;
    let mut in_first_action = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("filter ") {
            let mut words = line.split_whitespace();
            prio = words.by_ref().find(|w| *w == "pref").and_then(|_| words.next()).and_then(|p| p.parse::<u32>().ok());
            in_first_action = false;
        } else if line.starts_with("action order ") {
            in_first_action = line.starts_with("action order 1:");
        } else if in_first_action && line.starts_with("Sent ") {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let (Some(p), Some(packets)) = (prio, words.get(3).and_then(|n| n.parse::<u64>().ok())) {
                *per_prio.entry(p).or_insert(0) += packets;
            }
            in_first_action = false;
        }
    }
    per_prio
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_text_is_summed_per_prio() {
        let text = "filter protocol ip pref 2 u32 chain 0 \n\
filter protocol ip pref 2 u32 chain 0 fh 1::800 order 2048 key ht 1 bkt 0 terminal flowid not_in_hw \n\
  match 00000050/0000ffff at 0\n\
\taction order 1: mirred (Egress Redirect to device dd0) stolen\n\
\tindex 1 ref 1 bind 1 installed 0 sec used 0 sec\n\
\tAction statistics:\n\
\tSent 84 bytes 2 pkt (dropped 0, overlimits 2 requeues 0) \n\
\tbacklog 0b 0p requeues 0\n\
filter protocol ip pref 2 u32 chain 0 fh 1::801 order 2049 key ht 1 bkt 0 terminal flowid not_in_hw \n\
\taction order 1: mirred (Egress Redirect to device dd0) stolen\n\
\tSent 42 bytes 1 pkt (dropped 0, overlimits 2 requeues 0) \n\
\taction order 2: mirred (Egress Redirect to device dd0) stolen\n\
\tSent 42 bytes 7 pkt (dropped 0, overlimits 2 requeues 0) \n\
filter protocol all pref 3 u32 chain 0 fh 802::800 order 2048 key ht 802 bkt 0 *flowid 1:1 not_in_hw\n";
        let stats = parse_filter_stats(text);
        assert_eq!(stats.get(&2), Some(&3));
        assert_eq!(stats.get(&3), None);
    }
}
