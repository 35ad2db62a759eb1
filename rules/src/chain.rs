//! Chains and action lists as tc runs them: the meaning of a rule set whose rules have more
//! than one action, `continue`, `goto chain N` or `police`, beyond first match.
//!
//! Matching starts in chain 0. The first rule of the chain that matches runs its actions in
//! order (net/sched/act_api.c `tcf_action_exec`): an action that lets the frame go on (tc's
//! `pipe`: a rewrite, a mirror, a policer's conforming verdict) hands it to the next; the
//! first that ends the list decides (net/sched/cls_api.c `__tcf_classify`):
//!
//! - `drop`, `pass`, `fwd`, `mirred redirect`, `reflect`: the frame's fate;
//! - `continue` (`TC_ACT_UNSPEC`): matching goes on with the next rule of the same chain;
//! - `goto chain N`: matching starts again at the first rule of chain N.
//!
//! A list that runs out after actions that pipe passes the frame (ingress treats
//! `TC_ACT_PIPE` as `TC_ACT_OK`). Where no rule of the chain reached matches, the frame gets
//! the default (`dataplane run --default`); tc's ingress passes it. More than
//! [`MAX_JUMPS`] gotos for one frame drop it, as the kernel bounds reclassification
//! (`max_reclassify_loop` in cls_api.c), so a loop of gotos cannot hold a worker.
//!
//! [`run`] is the one implementation: the dataplane's engine calls it with its own
//! classifier per chain and its own effects (rewrites on the frame, mirror copies, token
//! buckets), [`decide`] with the plain rule-by-rule lookup and no effects is the reference
//! the tests compare against.

use crate::key::PacketKey;
use crate::rule::{Action, Control, RuleSet};

/// The most `goto`s one frame may take (the kernel's `max_reclassify_loop`, 16).
pub const MAX_JUMPS: usize = 16;

/// The most `jump`s within one rule's list (act_api.c's `jmp_ttl`, TCA_ACT_MAX_PRIO = 32):
/// at the last the frame passes.
pub const MAX_LIST_JUMPS: usize = 32;

/// How matching one frame ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `drop` (or a policer's `drop`): by this rule.
    Drop {
        /// The rule whose action dropped the frame.
        rule: usize,
        /// Whether a policer's verdict did (its `exceed` or `conform` control).
        policed: bool,
    },
    /// `pass`, or a list that ran out: as `dataplane run --action` says.
    Pass {
        /// The rule whose list ended so.
        rule: usize,
    },
    /// `fwd`, `mirred redirect` or `reflect`: action `action` of rule `rule` says where.
    Send {
        /// The rule.
        rule: usize,
        /// The index of the action in the rule's list.
        action: usize,
    },
    /// No rule of `chain` matched (chain 0, or where a goto led): the default.
    NoMatch {
        /// The chain where matching found nothing.
        chain: u32,
    },
    /// More than [`MAX_JUMPS`] gotos; the last taken was rule `rule`'s.
    Loop {
        /// The rule whose goto was one too many.
        rule: usize,
    },
}

impl Outcome {
    /// A one-word name of the outcome (`drop`, `pass`, `send`, `no_match`, `loop`).
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Drop { .. } => "drop",
            Outcome::Pass { .. } => "pass",
            Outcome::Send { .. } => "send",
            Outcome::NoMatch { .. } => "no_match",
            Outcome::Loop { .. } => "loop",
        }
    }

    /// The rule where matching ended, if a rule did end it.
    pub fn rule(&self) -> Option<usize> {
        match *self {
            Outcome::Drop { rule, .. }
            | Outcome::Pass { rule }
            | Outcome::Send { rule, .. }
            | Outcome::Loop { rule } => Some(rule),
            Outcome::NoMatch { .. } => None,
        }
    }
}

/// The first matching rule of a chain, as a classifier finds it.
pub trait ChainLookup {
    /// The first rule of `chain` (in [`RuleSet::chain`] order) that matches `key`.
    fn first_match(&self, chain: u32, key: &PacketKey) -> Option<usize>;

    /// Told of every rule matching reaches after `first` (by `continue` or `goto`), so a
    /// caller can count its hits.
    fn matched(&self, _rule: usize) {}
}

/// Rule by rule, [`crate::Rule::matches`] in chain order: the reference.
pub struct Linear<'s>(pub &'s RuleSet);

impl ChainLookup for Linear<'_> {
    fn first_match(&self, chain: u32, key: &PacketKey) -> Option<usize> {
        self.0.chain(chain).iter().copied().find(|&i| self.0.rules[i].matches(key))
    }
}

/// Runs the frame whose key is `key` through `set`: `first` is chain 0's first match
/// (already looked up, so a caller can look up a whole burst at once), `lookup` finds the
/// first match of the chains a goto leads to, `act` carries out each action that does not
/// end a list (rule index, action index, the key to update where the frame changed) and
/// returns what happens next (`Control::Pipe` for all but a policer's verdict); its error
/// stops matching (a rewrite that failed). `continue` scans the rest of the chain rule by
/// rule: the classifiers answer first matches only. No allocation.
pub fn run<E>(
    set: &RuleSet,
    lookup: &impl ChainLookup,
    key: &mut PacketKey,
    first: Option<usize>,
    mut act: impl FnMut(usize, usize, &mut PacketKey) -> Result<Control, E>,
) -> Result<Outcome, E> {
    let (mut chain, mut matched, mut jumps) = (0u32, first, 0usize);
    loop {
        let Some(rule) = matched else { return Ok(Outcome::NoMatch { chain }) };
        let mut next = None;
        let actions = &set.rules[rule].actions;
        // Where the list (re)starts, and the jumps it took (act_api.c allows TCA_ACT_MAX_PRIO).
        let (mut start, mut list_jumps) = (0usize, 0usize);
        'list: loop {
            for (index, action) in actions.iter().enumerate().skip(start) {
                let control = match action {
                    Action::Drop => return Ok(Outcome::Drop { rule, policed: false }),
                    Action::Pass => return Ok(Outcome::Pass { rule }),
                    Action::Fwd(_)
                    | Action::Redirect(_)
                    | Action::Reflect
                    | Action::Blockcast { redirect: true, .. } => return Ok(Outcome::Send { rule, action: index }),
                    Action::Continue => Control::Continue,
                    Action::Goto(target) => Control::Goto(*target),
                    Action::Jump(to) => Control::Jump(*to),
                    // The checksums are right already (every rewrite keeps them so).
                    Action::Csum(_) => Control::Pipe,
                    Action::Encap(_)
                    | Action::Pedit(_)
                    | Action::Decap
                    | Action::TtlDec
                    | Action::Vlan(_)
                    | Action::Mpls(_)
                    | Action::TunnelKey(_)
                    | Action::Mirror(_)
                    | Action::Blockcast { redirect: false, .. }
                    | Action::Police(_)
                    | Action::Gate(_) => act(rule, index, key)?,
                };
                let policed = matches!(action, Action::Police(_));
                match control {
                    Control::Pipe => continue,
                    Control::Drop => return Ok(Outcome::Drop { rule, policed }),
                    Control::Pass => return Ok(Outcome::Pass { rule }),
                    Control::Continue => {
                        let order = set.chain(chain);
                        let after = order.iter().position(|&i| i == rule).map_or(order.len(), |p| p + 1);
                        next = Some(order[after..].iter().copied().find(|&i| set.rules[i].matches(key)));
                    }
                    Control::Goto(target) => {
                        jumps += 1;
                        if jumps > MAX_JUMPS {
                            return Ok(Outcome::Loop { rule });
                        }
                        chain = target;
                        next = Some(lookup.first_match(chain, key));
                    }
                    Control::Jump(to) => {
                        list_jumps += 1;
                        // The kernel's "faulty opcode" and "faulty graph": the frame passes.
                        let to = to as usize;
                        if to == 0 || to >= actions.len() || list_jumps >= MAX_LIST_JUMPS {
                            return Ok(Outcome::Pass { rule });
                        }
                        start = to;
                        continue 'list;
                    }
                }
                break;
            }
            break;
        }
        match next {
            Some(found) => {
                if let Some(rule) = found {
                    lookup.matched(rule);
                }
                matched = found;
            }
            // The list ran out after actions that pipe.
            None => return Ok(Outcome::Pass { rule }),
        }
    }
}

/// The reference: [`run`] rule by rule on a key that no action changes, every policer
/// conforming as `police` says (`true`: within the rate), every gate open.
pub fn decide(set: &RuleSet, key: &PacketKey, mut police: impl FnMut(usize, usize) -> bool) -> Outcome {
    let lookup = Linear(set);
    let first = lookup.first_match(0, key);
    let mut key = *key;
    let outcome = run(set, &lookup, &mut key, first, |rule, index, _| {
        Ok::<_, std::convert::Infallible>(match &set.rules[rule].actions[index] {
            Action::Police(p) if police(rule, index) => p.conform,
            Action::Police(p) => p.exceed,
            // Every gate open (what a schedule says depends on the time).
            Action::Gate(g) => g.control,
            _ => Control::Pipe,
        })
    });
    match outcome {
        Ok(outcome) => outcome,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn key(dst_port: u16) -> PacketKey {
        PacketKey::ipv4_5tuple([10, 0, 0, 1], [10, 0, 0, 2], 17, 1000, dst_port)
    }

    fn outcome(text: &str, dst_port: u16) -> Outcome {
        let set = parse("t", text).unwrap_or_else(|e| panic!("{e:?}"));
        decide(&set, &key(dst_port), |_, _| true)
    }

    #[test]
    fn goto_starts_again_in_the_named_chain() {
        let text = "ip_proto udp action goto chain 1\n\
                    chain 1 ip_proto udp dst_port 53 action drop\n\
                    chain 1 action fwd 1\n";
        assert_eq!(outcome(text, 53), Outcome::Drop { rule: 1, policed: false });
        assert_eq!(outcome(text, 80), Outcome::Send { rule: 2, action: 0 });
    }

    #[test]
    fn continue_goes_on_with_the_next_rule_of_the_chain() {
        let text = "prio 1 ip_proto udp action continue\n\
                    prio 2 dst_port 9 ip_proto udp action drop\n\
                    prio 3 action pass\n";
        assert_eq!(outcome(text, 9), Outcome::Drop { rule: 1, policed: false });
        assert_eq!(outcome(text, 10), Outcome::Pass { rule: 2 });
        // Nothing after a continue matches: the default.
        assert_eq!(outcome("ip_proto udp action continue\n", 10), Outcome::NoMatch { chain: 0 });
    }

    #[test]
    fn a_list_that_runs_out_passes_and_a_chain_without_match_takes_the_default() {
        assert_eq!(outcome("action mirred egress mirror dev a\n", 1), Outcome::Pass { rule: 0 });
        assert_eq!(outcome("action goto chain 7\n", 1), Outcome::NoMatch { chain: 7 });
        assert_eq!(outcome("chain 1 action drop\n", 1), Outcome::NoMatch { chain: 0 });
    }

    #[test]
    fn gotos_in_a_circle_end_as_a_loop() {
        let text = "action goto chain 1\nchain 1 action goto chain 0\n";
        assert!(matches!(outcome(text, 1), Outcome::Loop { .. }));
    }

    #[test]
    fn jump_runs_the_list_again_from_an_action() {
        // tc counts actions: police (0), vlan pop + drop (1), fwd 1 (2); `jump 2` skips the
        // first two, to list position 3 here (the drop is an entry of its own).
        let text =
            "action police rate 1mbit burst 10k conform-exceed jump 2 / pipe action vlan pop drop action fwd 1\n";
        let set = parse("t", text).unwrap();
        let Action::Police(police) = &set.rules[0].actions[0] else { panic!() };
        assert_eq!((police.exceed, police.conform), (Control::Jump(3), Control::Pipe));
        assert_eq!(decide(&set, &key(1), |_, _| false), Outcome::Send { rule: 0, action: 3 });
        assert_eq!(decide(&set, &key(1), |_, _| true), Outcome::Drop { rule: 0, policed: false });
        // jump 0 and past the end: the kernel's "faulty opcode", the frame passes.
        assert_eq!(outcome("action vlan pop pipe action jump 0\n", 1), Outcome::Pass { rule: 0 });
        assert_eq!(outcome("action vlan pop pipe action jump 9 action drop\n", 1), Outcome::Pass { rule: 0 });
        // Jumping back to itself: after MAX_LIST_JUMPS, the frame passes.
        assert_eq!(outcome("action vlan pop pipe action jump 1 action drop\n", 1), Outcome::Pass { rule: 0 });
    }

    #[test]
    fn a_policer_decides_by_its_verdicts() {
        let text = "action police rate 1mbit burst 10k conform-exceed drop/pipe action fwd 1\n";
        let set = parse("t", text).unwrap();
        assert_eq!(decide(&set, &key(1), |_, _| true), Outcome::Send { rule: 0, action: 1 });
        assert_eq!(decide(&set, &key(1), |_, _| false), Outcome::Drop { rule: 0, policed: true });
    }
}
