//! The rule stage: a rule set resolved for this dataplane (ports checked, rewrites parsed),
//! its classifier, per-worker hit counters, and the hand-over that lets `SIGHUP` swap in a
//! new table while workers run.
//!
//! The swap: the control thread builds the new [`RuleTable`] (parse, classifier build,
//! everything that allocates) and publishes it in [`SharedRules`]. Each worker compares one
//! atomic generation number between bursts and takes the new table only then, so every
//! frame of a burst is classified by one table, none is lost, and the hot path holds no
//! lock (the mutex is taken once per reload, by each worker, between bursts).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam::utils::CachePadded;
use rules::chain::ChainLookup;
use rules::{Action, Classifier, Indev, PacketKey, RuleSet, TunnelKey};

use super::gate::GateState;
use super::police::Policer;
use super::rewrite::{Rewrite, RewriteError};
use crate::error::SetupError;
use crate::stats::Counter;
use wire::Offsets;

/// Where a frame goes after the rule stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Dropped by a rule (counted as `rule`).
    Drop,
    /// As `--action` says (drop, reflect or fwd).
    Pass,
    /// Out of this dataplane port.
    Fwd(usize),
    /// Back out of the port it came from, MACs swapped.
    Reflect,
}

/// A rule's action, resolved: where the frame goes and what is rewritten first.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleAction {
    /// Where the frame goes.
    pub disposition: Disposition,
    /// What is rewritten first (`decap`, `ttl-dec`, `encap`).
    pub rewrite: Option<Rewrite>,
}

impl RuleAction {
    /// Goes to `disposition`, rewriting nothing.
    pub const fn to(disposition: Disposition) -> RuleAction {
        RuleAction { disposition, rewrite: None }
    }
}

/// What one action of a rule's list does here, resolved at load (`steps[i]` is the rule's
/// `actions[i]`).
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// `drop`, `pass`, `continue`, `goto`: what [`rules::chain::run`] decides itself.
    Control,
    /// `fwd`, `mirred redirect`, `reflect`: where the frame goes.
    Send(Disposition),
    /// `encap`, `decap`, `ttl-dec`, `vlan`, `tunnel_key`, `pedit`.
    Rewrite(Rewrite),
    /// `mirred mirror`: a copy out of this port.
    Mirror(usize),
    /// `mirred mirror|redirect blockid N`: copies out of every port of the run but the one
    /// the frame arrived on (with `redirect`, the frame itself out of the last of them).
    Blockcast {
        /// The frame goes too, and the list ends.
        redirect: bool,
    },
    /// `police`: the table's policer with this number, and what its verdicts lead to.
    Police {
        /// The policer's number in the table.
        policer: usize,
        /// What a frame within the rate gets.
        conform: rules::Control,
        /// What a frame beyond it gets.
        exceed: rules::Control,
    },
    /// `gate`: the table's gate with this number, and what a frame it lets through gets.
    Gate {
        /// The gate's number in the table.
        gate: usize,
        /// Its control word.
        control: rules::Control,
        /// An egress rule's: act_gate counts the whole frame there, at ingress from after the
        /// Ethernet header (`qdisc_pkt_len`).
        egress: bool,
    },
}

/// The actions shared by index between a file's tables.
#[derive(Default)]
struct Shared {
    policers: HashMap<u32, Arc<Policer>>,
    gates: HashMap<u32, Arc<GateState>>,
}

/// A chain other than 0: its classifier over its own rules, and their indices in the file.
struct ChainTable {
    chain: u32,
    classifier: Box<dyn Classifier>,
    /// By the classifier's answer: the rule's index in the file.
    file_index: Vec<usize>,
}

/// Which classifier a table uses (`--classifier`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClassifierKind {
    /// The fast default.
    #[default]
    Fast,
    /// Rule by rule, as tc does (the reference).
    Linear,
}

impl std::str::FromStr for ClassifierKind {
    type Err = SetupError;
    fn from_str(text: &str) -> Result<Self, SetupError> {
        match text {
            "fast" => Ok(ClassifierKind::Fast),
            "linear" => Ok(ClassifierKind::Linear),
            other => Err(SetupError::UnknownClassifier { name: other.to_string() }),
        }
    }
}

/// Builds the classifier of `kind` over `set`. The fast one refuses a set it cannot hold
/// (the rule count and why, with `--classifier linear` as the way out); there is no silent
/// fall-back to another classifier.
pub fn build_classifier(set: &RuleSet, kind: ClassifierKind) -> Result<Box<dyn Classifier>, SetupError> {
    match kind {
        ClassifierKind::Linear => Ok(Box::new(rules::Linear::new(set))),
        ClassifierKind::Fast => match rules::fast::build(set) {
            Ok(fast) => Ok(Box::new(fast)),
            Err(too_large) => Err(SetupError::ClassifierTooLarge(too_large)),
        },
    }
}

/// A rule set ready for the workers.
pub struct RuleTable {
    /// The rules, in file order.
    pub set: RuleSet,
    /// Where it came from (a file path), for messages.
    pub source: String,
    /// Increases with every reload; the first table is 1.
    pub generation: u64,
    classifier: Box<dyn Classifier>,
    /// By rule index (file order): the action of a rule of chain 0 with one classic action,
    /// which the engines carry out without the chain interpreter.
    actions: Vec<Option<RuleAction>>,
    /// By rule index: every action of the rule, resolved.
    steps: Vec<Box<[Step]>>,
    /// The chains other than 0.
    chains: Vec<ChainTable>,
    /// One per `police` action (one per index for `police ... index N`, shared with the
    /// egress tables), shared by every worker (a reload starts them full).
    policers: Vec<Arc<Policer>>,
    /// What the policers' clock counts from.
    clock: std::time::Instant,
    /// One per `gate` action (one per index for `gate ... index N`, shared with the egress
    /// tables), shared by every worker (a reload starts their schedules again).
    gates: Vec<Arc<GateState>>,
    /// When no rule matches (`--default`).
    default: RuleAction,
    /// Per worker: one counter per rule, then one for "no rule matched".
    hits: Vec<CachePadded<Box<[Counter]>>>,
    /// By port: the table of the egress rules that apply to the frames leaving by it.
    egress: Vec<Option<EgressTable>>,
    /// The run's ports (what a blockcast sends to).
    ports: usize,
}

/// The egress rules of one port as a table of their own (tc's egress block of a device):
/// its own chains, policers and default (tc passes what no egress rule matches).
struct EgressTable {
    table: Box<RuleTable>,
    /// By the table's rule index: the rule's index in the file.
    file_index: Vec<usize>,
}

/// A rule the dataplane cannot carry out, where it is: `file:line:col: message`.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionError {
    /// The rule file, as given.
    pub file: String,
    /// 1-based; 0 when the error is about the whole set.
    pub line: usize,
    /// 1-based column of the rule's action.
    pub col: usize,
    /// What is wrong.
    pub problem: ActionProblem,
}

/// Why a rule (or the whole set) cannot be carried out by this dataplane.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionProblem {
    /// `fwd N` past the last port.
    NoSuchPort {
        /// The port the rule names.
        port: u16,
        /// How many ports this run has.
        ports: usize,
    },
    /// `mirred egress redirect dev NAME` where no port is that interface.
    NoSuchDevice {
        /// The interface the rule names.
        dev: String,
        /// The interfaces of this run's af_xdp ports.
        named: Vec<String>,
    },
    /// `indev NAME` where no port is that interface (so the rule could never match).
    NoSuchIndev {
        /// The interface the rule names.
        dev: String,
        /// The interfaces of this run's af_xdp ports.
        named: Vec<String>,
    },
    /// An egress rule of `dev NAME` where no port is that interface (so no frame leaves by it).
    NoSuchEgressDev {
        /// The interface the rule names.
        dev: String,
        /// The interfaces of this run's af_xdp ports.
        named: Vec<String>,
    },
    /// `mirred egress mirror dev NAME` where no port is that interface.
    NoSuchMirror {
        /// The interface the rule names.
        dev: String,
        /// The interfaces of this run's af_xdp ports.
        named: Vec<String>,
    },
    /// `encap ARGS` whose arguments do not parse.
    Encap(RewriteError),
    /// The classifier cannot hold the set (about the whole file).
    Classifier(SetupError),
}

impl fmt::Display for ActionProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionProblem::NoSuchPort { port, ports } => write!(
                f,
                "fwd {port}: this dataplane has {ports} port(s), numbered 0..={} in --port order",
                ports.saturating_sub(1)
            ),
            ActionProblem::NoSuchDevice { dev, named } => write!(
                f,
                "mirred egress redirect dev {dev}: no --port of this run is interface {dev} (its af_xdp ports: {})",
                if named.is_empty() { "none".to_string() } else { named.join(", ") }
            ),
            ActionProblem::NoSuchMirror { dev, named } => write!(
                f,
                "mirred egress mirror dev {dev}: no --port of this run is interface {dev} (its af_xdp ports: {})",
                if named.is_empty() { "none".to_string() } else { named.join(", ") }
            ),
            ActionProblem::NoSuchIndev { dev, named } => write!(
                f,
                "indev {dev}: no --port of this run is interface {dev}, so no frame arrives on it (its af_xdp ports: {})",
                if named.is_empty() { "none".to_string() } else { named.join(", ") }
            ),
            ActionProblem::NoSuchEgressDev { dev, named } => write!(
                f,
                "egress filter of dev {dev}: no --port of this run is interface {dev}, so no frame leaves by it (its af_xdp ports: {})",
                if named.is_empty() { "none".to_string() } else { named.join(", ") }
            ),
            ActionProblem::Encap(error) => write!(f, "{error}"),
            ActionProblem::Classifier(error) => write!(f, "{error}"),
        }
    }
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            // About the whole set (the classifier cannot hold it), not one rule.
            (0, _) => write!(f, "{}: {}", self.file, self.problem),
            _ => write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.problem),
        }
    }
}

impl std::error::Error for ActionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            ActionProblem::Encap(error) => Some(error),
            ActionProblem::Classifier(error) => Some(error),
            ActionProblem::NoSuchPort { .. }
            | ActionProblem::NoSuchDevice { .. }
            | ActionProblem::NoSuchMirror { .. }
            | ActionProblem::NoSuchEgressDev { .. }
            | ActionProblem::NoSuchIndev { .. } => None,
        }
    }
}

impl RuleTable {
    /// Resolves every rule's action for a dataplane whose ports have these interface names
    /// ("" for pcap and mem ports) and `workers` workers. All errors at once; nothing is
    /// built unless every rule can be carried out.
    pub fn build(
        set: RuleSet,
        source: &str,
        port_names: &[String],
        workers: usize,
        default: Disposition,
        kind: ClassifierKind,
    ) -> Result<RuleTable, Vec<ActionError>> {
        Self::build_sharing(set, source, port_names, workers, default, kind, &mut Shared::default())
    }

    /// [`build`](Self::build), the policers of `police ... index N` and gates of `gate ...
    /// index N` taken from (or put in) `shared`, so the ingress and egress tables of one file
    /// share them.
    fn build_sharing(
        mut set: RuleSet,
        source: &str,
        port_names: &[String],
        workers: usize,
        default: Disposition,
        kind: ClassifierKind,
        shared: &mut Shared,
    ) -> Result<RuleTable, Vec<ActionError>> {
        let ports = port_names.len();
        let mut errors = Vec::new();
        let mut actions = Vec::with_capacity(set.len());
        for rule in &set.rules {
            if let rules::Hook::Egress { dev: Some(dev) } = &rule.hook {
                if !port_names.iter().any(|name| name == dev) {
                    let named = port_names.iter().filter(|n| !n.is_empty()).cloned().collect();
                    let problem = ActionProblem::NoSuchEgressDev { dev: dev.clone(), named };
                    errors.push(ActionError {
                        file: source.to_string(),
                        line: rule.line,
                        col: rule.action_col,
                        problem,
                    });
                }
            }
        }
        for rule in &mut set.rules {
            // `indev NAME`: the port whose interface is NAME, resolved here as `mirred` is.
            if let Some(indev) = rule.keys.indev.as_mut() {
                match port_names.iter().position(|name| name == indev.name()) {
                    Some(port) => indev.port = u16::try_from(port).unwrap_or(Indev::UNRESOLVED),
                    None => {
                        let named = port_names.iter().filter(|n| !n.is_empty()).cloned().collect();
                        let dev = indev.name().to_string();
                        let problem = ActionProblem::NoSuchIndev { dev, named };
                        errors.push(ActionError {
                            file: source.to_string(),
                            line: rule.line,
                            col: rule.action_col,
                            problem,
                        });
                    }
                }
            }
        }
        let mut steps = Vec::with_capacity(set.len());
        let mut policers = Vec::new();
        let mut gates = Vec::new();
        for rule in &set.rules {
            let error = |problem: ActionProblem| ActionError {
                file: source.to_string(),
                line: rule.line,
                col: rule.action_col,
                problem,
            };
            let named = || port_names.iter().filter(|n| !n.is_empty()).cloned().collect();
            let mut rule_steps = Vec::with_capacity(rule.actions.len());
            for action in &rule.actions {
                let step = match action {
                    // csum: the checksums are right already (every rewrite keeps them so).
                    Action::Drop
                    | Action::Pass
                    | Action::Continue
                    | Action::Goto(_)
                    | Action::Jump(_)
                    | Action::Csum(_) => Step::Control,
                    Action::Reflect => Step::Send(Disposition::Reflect),
                    Action::Fwd(port) if usize::from(*port) < ports => Step::Send(Disposition::Fwd(usize::from(*port))),
                    Action::Fwd(port) => {
                        errors.push(error(ActionProblem::NoSuchPort { port: *port, ports }));
                        continue;
                    }
                    Action::Redirect(dev) => match port_names.iter().position(|name| name == dev) {
                        Some(port) => Step::Send(Disposition::Fwd(port)),
                        None => {
                            errors.push(error(ActionProblem::NoSuchDevice { dev: dev.clone(), named: named() }));
                            continue;
                        }
                    },
                    Action::Blockcast { redirect, .. } => Step::Blockcast { redirect: *redirect },
                    Action::Mirror(dev) => match port_names.iter().position(|name| name == dev) {
                        Some(port) => Step::Mirror(port),
                        None => {
                            errors.push(error(ActionProblem::NoSuchMirror { dev: dev.clone(), named: named() }));
                            continue;
                        }
                    },
                    Action::Decap => Step::Rewrite(Rewrite::Decap),
                    Action::TtlDec => Step::Rewrite(Rewrite::TtlDec),
                    Action::Vlan(vlan) => Step::Rewrite(Rewrite::Vlan(*vlan)),
                    Action::Mpls(mpls) => Step::Rewrite(Rewrite::Mpls(*mpls)),
                    // The frame still carries the tunnel the enc_ keys matched: unset strips it.
                    Action::TunnelKey(TunnelKey::Unset) => Step::Rewrite(Rewrite::Decap),
                    Action::TunnelKey(TunnelKey::Set(set)) => match Rewrite::tunnel_key(set) {
                        Ok(rewrite) => Step::Rewrite(rewrite),
                        Err(rewrite_error) => {
                            errors.push(error(ActionProblem::Encap(rewrite_error)));
                            continue;
                        }
                    },
                    Action::Pedit(pedit) => Step::Rewrite(Rewrite::Pedit(pedit.into())),
                    Action::Encap(args) => match format!("encap:{args}").parse::<Rewrite>() {
                        Ok(rewrite) => Step::Rewrite(rewrite),
                        Err(rewrite_error) => {
                            errors.push(error(ActionProblem::Encap(rewrite_error)));
                            continue;
                        }
                    },
                    Action::Police(police) => {
                        let policer = match police.index {
                            Some(index) => {
                                shared.policers.entry(index).or_insert_with(|| Arc::new(Policer::new(police))).clone()
                            }
                            None => Arc::new(Policer::new(police)),
                        };
                        policers.push(policer);
                        Step::Police { policer: policers.len() - 1, conform: police.conform, exceed: police.exceed }
                    }
                    Action::Gate(gate) => {
                        let make = || Arc::new(GateState::new(gate, GateState::clock_now(gate)));
                        let state = match gate.index {
                            Some(index) => shared.gates.entry(index).or_insert_with(make).clone(),
                            None => make(),
                        };
                        gates.push(state);
                        Step::Gate { gate: gates.len() - 1, control: gate.control, egress: rule.is_egress() }
                    }
                };
                rule_steps.push(step);
            }
            // The plain path: one classic action of chain 0, its disposition and rewrite.
            let simple = match (rule.single_action(), rule_steps.as_slice()) {
                (Some(Action::Drop), _) => Some(RuleAction::to(Disposition::Drop)),
                (Some(Action::Pass), _) => Some(RuleAction::to(Disposition::Pass)),
                (Some(_), [Step::Send(disposition)]) => Some(RuleAction::to(*disposition)),
                (Some(_), [Step::Rewrite(rewrite)]) => {
                    Some(RuleAction { disposition: Disposition::Pass, rewrite: Some(rewrite.clone()) })
                }
                _ => None,
            };
            actions.push(simple);
            steps.push(rule_steps.into_boxed_slice());
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let whole_set = |setup| {
            vec![ActionError { file: source.to_string(), line: 0, col: 0, problem: ActionProblem::Classifier(setup) }]
        };
        let classifier = build_classifier(&set, kind).map_err(whole_set)?;
        // One classifier per chain (each over its own rules, as chain 0's over `order`).
        let mut chains = Vec::new();
        for (chain, order) in set.chains.iter().filter(|(chain, _)| *chain != 0) {
            let rules = order.iter().map(|&i| rules::Rule { chain: 0, ..set.rules[i].clone() }).collect();
            let classifier = build_classifier(&RuleSet::new(rules), kind).map_err(whole_set)?;
            chains.push(ChainTable { chain: *chain, classifier, file_index: order.clone() });
        }
        let counters = set.len() + 1;
        let hits = (0..workers.max(1))
            .map(|_| CachePadded::new((0..counters).map(|_| Counter::default()).collect::<Box<[Counter]>>()))
            .collect();
        // Every rule was resolved above (errors once, at the rule's line); each port's egress
        // set is built from those rules again, so only its classifier can fail here.
        let mut egress = Vec::with_capacity(ports);
        for name in port_names {
            let table = match set.egress_of(name) {
                Some((sub, file_index)) => {
                    let table =
                        RuleTable::build_sharing(sub, source, port_names, workers, Disposition::Pass, kind, shared)?;
                    Some(EgressTable { table: Box::new(table), file_index })
                }
                None => None,
            };
            egress.push(table);
        }
        Ok(RuleTable {
            source: source.to_string(),
            generation: 1,
            classifier,
            actions,
            steps,
            chains,
            policers,
            clock: std::time::Instant::now(),
            gates,
            default: RuleAction::to(default),
            hits,
            egress,
            ports,
            set,
        })
    }

    /// Chain 0's first match for `key` (`None`: no rule matched), counted against
    /// `worker`, and its action where it is a plain one (`None`: the rule's list needs
    /// [`rules::chain::run`]).
    #[inline]
    pub fn lookup(&self, key: &PacketKey, worker: usize) -> (Option<usize>, Option<&RuleAction>) {
        let matched = self.classifier.classify(key);
        self.hits[worker][matched.unwrap_or(self.set.len())].add(1);
        (matched, self.action(matched))
    }

    /// [`lookup`](Self::lookup) for a burst, in one classifier call: `matched[i]` answers
    /// `keys[i]` (up to the shorter of the two), each answer counted against `worker` as
    /// `lookup` counts it. [`action`](Self::action) says what an answer means.
    #[inline]
    pub fn lookup_burst(&self, keys: &[PacketKey], matched: &mut [Option<usize>], worker: usize) {
        let answers = keys.len().min(matched.len());
        self.classifier.classify_burst(&keys[..answers], &mut matched[..answers]);
        let hits = &self.hits[worker];
        for answer in &matched[..answers] {
            hits[answer.unwrap_or(self.set.len())].add(1);
        }
    }

    /// The action of a lookup's answer where it is a plain one: the rule's, or the default
    /// when none matched; `None` where the rule's list needs [`rules::chain::run`]
    /// (with [`steps`](Self::steps) and a [`Hits`] lookup).
    #[inline]
    pub fn action(&self, matched: Option<usize>) -> Option<&RuleAction> {
        match matched {
            Some(index) => self.actions[index].as_ref(),
            None => Some(&self.default),
        }
    }

    /// The default's action (no rule matched in the chain matching reached).
    #[inline]
    pub fn default_action(&self) -> &RuleAction {
        &self.default
    }

    /// Rule `rule`'s actions, resolved.
    #[inline]
    pub fn steps(&self, rule: usize) -> &[Step] {
        &self.steps[rule]
    }

    /// Policer `index` (of a [`Step::Police`]).
    #[inline]
    pub fn policer(&self, index: usize) -> &Policer {
        &self.policers[index]
    }

    /// Gate `index` (of a [`Step::Gate`]).
    #[inline]
    pub fn gate(&self, index: usize) -> &GateState {
        &self.gates[index]
    }

    /// The policers' clock: picoseconds since the table was built.
    #[inline]
    pub fn now_ps(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_nanos().saturating_mul(1000)).unwrap_or(u64::MAX)
    }

    /// This table's lookups for [`rules::chain::run`], counting hits against `worker`.
    #[inline]
    pub fn hits_of(&self, worker: usize) -> Hits<'_> {
        Hits { table: self, worker }
    }

    /// The classifier's short name ("fast", "linear").
    pub fn classifier_name(&self) -> &'static str {
        self.classifier.name()
    }

    /// How many ports the run has.
    #[inline]
    pub fn ports(&self) -> usize {
        self.ports
    }

    /// The table of the egress rules of the frames leaving by `port`, if any apply there.
    #[inline]
    pub fn egress(&self, port: usize) -> Option<&RuleTable> {
        self.egress.get(port).and_then(|egress| egress.as_ref()).map(|egress| &*egress.table)
    }

    /// Hits per rule (file order) summed over workers, and the no-match count of ingress
    /// (an egress rule's hits are those of every port it applies to).
    pub fn hits(&self) -> (Vec<u64>, u64) {
        let mut sums = vec![0u64; self.set.len() + 1];
        for worker in &self.hits {
            for (sum, counter) in sums.iter_mut().zip(worker.iter()) {
                *sum += counter.get();
            }
        }
        let unmatched = sums.pop().unwrap_or(0);
        for egress in self.egress.iter().flatten() {
            let (hits, _) = egress.table.hits();
            for (local, count) in hits.into_iter().enumerate() {
                sums[egress.file_index[local]] += count;
            }
        }
        (sums, unmatched)
    }
}

/// A table's chain lookups for [`rules::chain::run`]: every rule reached after the first is
/// counted against the worker, a chain without a match as "no rule matched".
pub struct Hits<'t> {
    table: &'t RuleTable,
    worker: usize,
}

impl ChainLookup for Hits<'_> {
    #[inline]
    fn first_match(&self, chain: u32, key: &PacketKey) -> Option<usize> {
        let t = self.table;
        let found = if chain == 0 {
            t.classifier.classify(key)
        } else {
            t.chains.iter().find(|c| c.chain == chain).and_then(|c| c.classifier.classify(key).map(|i| c.file_index[i]))
        };
        if found.is_none() {
            t.hits[self.worker][t.set.len()].add(1);
        }
        found
    }

    #[inline]
    fn matched(&self, rule: usize) {
        self.table.hits[self.worker][rule].add(1);
    }
}

/// The current table, shared by the control thread (which replaces it) and the workers
/// (which pick it up between bursts).
pub struct SharedRules {
    generation: AtomicU64,
    table: Mutex<Arc<RuleTable>>,
}

impl SharedRules {
    /// Shares `table` (its generation stays as built: 1).
    pub fn new(table: RuleTable) -> SharedRules {
        SharedRules { generation: AtomicU64::new(table.generation), table: Mutex::new(Arc::new(table)) }
    }

    /// Replaces the table; workers take it at their next burst. Returns its generation.
    pub fn publish(&self, mut table: RuleTable) -> u64 {
        let mut slot = self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        table.generation = slot.generation + 1;
        let generation = table.generation;
        *slot = Arc::new(table);
        // Release: a worker that sees the new number finds the new table behind the lock.
        self.generation.store(generation, Ordering::Release);
        generation
    }

    #[inline]
    /// The generation of the current table (one atomic load: what workers check per burst).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current table (takes the lock: between bursts only).
    pub fn current(&self) -> Arc<RuleTable> {
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// Per-worker scratch space of the classified pipeline: nothing is allocated per frame.
#[derive(Default)]
pub struct Scratch {
    /// The frame's layers.
    pub offsets: Offsets,
    /// The frame's key.
    pub key: PacketKey,
    /// The port the frames arrive on, where the caller knows it (`indev` rules match only
    /// then).
    pub in_port: Option<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::{Keys, PortMatch, Protocol, Rule};

    /// `n` ports named dut0, dut1, ...
    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("dut{i}")).collect()
    }

    fn rule(line: usize, dst_port: Option<u16>, action: Action) -> Rule {
        Rule {
            line,
            action_col: 20,
            prio: 1,
            protocol: Protocol::All,
            chain: 0,
            hook: rules::Hook::Ingress,
            keys: Keys { dst_port: dst_port.map(PortMatch::exact), ..Keys::default() },
            actions: vec![action],
        }
    }

    fn key(dst_port: u16) -> PacketKey {
        PacketKey::ipv4_5tuple([10, 0, 0, 1], [10, 0, 0, 2], 17, 1000, dst_port)
    }

    #[test]
    fn lookup_resolves_actions_and_counts_hits_per_rule() {
        let set = RuleSet::new(vec![
            rule(1, Some(53), Action::Drop),
            rule(2, Some(80), Action::Fwd(1)),
            rule(3, Some(81), Action::TtlDec),
        ]);
        let table = RuleTable::build(set, "r.rules", &names(2), 2, Disposition::Pass, ClassifierKind::Linear).unwrap();
        assert_eq!(table.lookup(&key(53), 0), (Some(0), Some(&RuleAction::to(Disposition::Drop))));
        assert_eq!(table.lookup(&key(80), 1), (Some(1), Some(&RuleAction::to(Disposition::Fwd(1)))));
        let (matched, action) = table.lookup(&key(81), 1);
        assert_eq!((matched, action.and_then(|a| a.rewrite.clone())), (Some(2), Some(Rewrite::TtlDec)));
        assert_eq!(table.lookup(&key(9), 0), (None, Some(&RuleAction::to(Disposition::Pass))));
        table.lookup(&key(80), 0);
        assert_eq!(table.hits(), (vec![1, 2, 1], 1));
    }

    #[test]
    fn every_unrunnable_action_is_reported_with_its_position() {
        let set = RuleSet::new(vec![
            rule(3, None, Action::Fwd(2)),
            rule(4, None, Action::Encap("vxlan".into())),
            rule(5, None, Action::Drop),
            rule(6, None, Action::Redirect("eth7".into())),
        ]);
        let errors = match RuleTable::build(set, "r.rules", &names(2), 1, Disposition::Pass, ClassifierKind::Fast) {
            Err(errors) => errors,
            Ok(_) => panic!("built a table with unrunnable actions"),
        };
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(text[0].starts_with("r.rules:3:20: fwd 2: this dataplane has 2 port(s)"), "{text:?}");
        assert!(text[1].starts_with("r.rules:4:20: encap: give the outer addresses"), "{text:?}");
        assert_eq!(
            text[2],
            "r.rules:6:20: mirred egress redirect dev eth7: no --port of this run is interface eth7 (its af_xdp ports: dut0, dut1)"
        );
    }

    #[test]
    fn mirred_redirect_goes_to_the_port_with_that_interface() {
        let set = RuleSet::new(vec![rule(1, Some(80), Action::Redirect("dut1".into()))]);
        let table = RuleTable::build(set, "r.rules", &names(2), 1, Disposition::Pass, ClassifierKind::Linear).unwrap();
        assert_eq!(table.actions[0], Some(RuleAction::to(Disposition::Fwd(1))));
    }

    #[test]
    fn indev_is_resolved_to_its_port_at_load_and_an_unknown_name_is_an_error() {
        let on = |dev: &str| Rule {
            keys: Keys { indev: Some(Indev::new(dev).expect("a name")), ..Keys::default() },
            ..rule(2, None, Action::Drop)
        };
        let set = RuleSet::new(vec![on("dut1")]);
        let table = RuleTable::build(set, "r.rules", &names(2), 1, Disposition::Pass, ClassifierKind::Fast).unwrap();
        let arrived = |port| PacketKey { has_in_port: true, in_port: port, ..key(9) };
        assert_eq!(table.lookup(&arrived(1), 0).0, Some(0));
        assert_eq!(table.lookup(&arrived(0), 0).0, None);
        // A key without an arrival port (a trace line) matches no indev rule.
        assert_eq!(table.lookup(&key(9), 0).0, None);
        let set = RuleSet::new(vec![on("eth9")]);
        let errors = match RuleTable::build(set, "r.rules", &names(2), 1, Disposition::Pass, ClassifierKind::Fast) {
            Err(errors) => errors,
            Ok(_) => panic!("built a table with an indev that is no port"),
        };
        assert_eq!(
            errors[0].to_string(),
            "r.rules:2:20: indev eth9: no --port of this run is interface eth9, so no frame arrives on it (its af_xdp ports: dut0, dut1)"
        );
    }

    #[test]
    fn publish_bumps_the_generation_and_hands_over_the_new_table() {
        let table = |action| {
            let set = RuleSet::new(vec![rule(1, None, action)]);
            RuleTable::build(set, "r", &names(1), 1, Disposition::Pass, ClassifierKind::Linear).unwrap()
        };
        let shared = SharedRules::new(table(Action::Drop));
        let seen = shared.current();
        assert_eq!((shared.generation(), seen.generation), (1, 1));
        assert_eq!(shared.publish(table(Action::Pass)), 2);
        assert_eq!(shared.generation(), 2);
        let now = shared.current();
        assert_eq!(now.lookup(&key(1), 0).1.map(|a| a.disposition), Some(Disposition::Pass));
        // The old table stays usable by whoever still holds it.
        assert_eq!(seen.lookup(&key(1), 0).1.map(|a| a.disposition), Some(Disposition::Drop));
    }
}
