//! The eBPF emitters: rules compiled to eBPF instructions with the `bpf` crate (no clang),
//! loaded, pinned under bpffs and attached to an interface.
//!
//! Targets ([`BpfTarget`]):
//! - `xdp`: one XDP program holding every rule, attached with a bpf_link that is pinned
//!   (`PIN_DIR/link`), so it stays attached after `rules compile` exits; [`remove`]
//!   unpins it, which detaches it. Compiling again while that link is attached swaps the
//!   program inside the link (`BPF_LINK_UPDATE`): no frame meets an interface without
//!   rules, and if the swap fails the old program stays.
//! - `tc-bpf`: one cls_bpf program (direct action) holding every rule, on the clsact
//!   ingress hook at prio [`BpfOptions::first_prio`].
//! - `tc-bpf-per-rule`: one cls_bpf program per rule, as in the Netdev 1.1 (2016)
//!   classifier study, each at its own prio in matching order. cls_bpf puts a program
//!   added to an existing prio at the head of that prio's list, so programs sharing a
//!   prio would run newest first; one prio per program keeps the order tc's prio order.
//!
//! Why cls_bpf (through `tc -b`, programs pinned and attached with `object-pinned`) and
//! not tcx for the tc targets: the study measured cls_bpf, `tc -s filter show` then
//! reports per-filter statistics like the u32 target's, the filters outlive the loader
//! without pinned links, and one mechanism serves both tc targets (tcx would need 1000
//! pinned links for per-rule).
//!
//! Every program counts matches in one per-CPU array pinned at `PIN_DIR/counters`:
//! entry `i` is rule `i` of the file ([`rules::RuleSet::rules`]), the last entry frames
//! that no rule matched ([`read_counters`]). No match means XDP_PASS for `xdp` and
//! TC_ACT_UNSPEC (go on with the next filter) for the tc targets; only the last per-rule
//! program counts "no match".
//!
//! Actions: `drop` -> XDP_DROP / TC_ACT_SHOT, `pass` -> XDP_PASS / TC_ACT_OK, `fwd N` ->
//! `bpf_redirect` to the interface named by [`BpfOptions::ports`]`[N]` (for XDP into a
//! veth, the peer needs an XDP program or GRO, or the kernel drops the frame),
//! `reflect` -> MACs swapped then XDP_TX / redirect out of the arriving interface.
//! `encap`, `decap` and `ttl-dec` are refused ([`Refusal`]).
//!
//! What the parser understands (and so what these targets can match) is in [`parse`]'s
//! documentation.
//!
//! Pins: `PIN_DIR` = `pin_root/DEV/TARGET` (default `/sys/fs/bpf/dataplane/DEV/xdp`, ...):
//! `counters`, and `prog` + `link` (xdp) or `prio-P` per cls_bpf program.

mod codegen;
pub mod frame;
pub mod parse;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use bpf::{Insn, Link, Map, MapType, ProgType, Program, XdpMode};

use crate::command::run;
use crate::error::{Error, Refusal};
use crate::target::Target;
use codegen::{ProgramSpec, RuleCode, Verdict};
use parse::Hook;
use rules::rule::Action;
use rules::RuleSet;

/// The default root of the pins: `/sys/fs/bpf/dataplane/DEV/TARGET/...`.
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf/dataplane";
const SYS_FS_BPF: &str = "/sys/fs/bpf";

/// The eBPF targets of `rules compile --to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BpfTarget {
    /// One cls_bpf program holding every rule.
    TcBpf,
    /// One cls_bpf program per rule.
    TcBpfPerRule,
    /// One XDP program holding every rule.
    Xdp,
}

impl BpfTarget {
    /// The name on the command line and in pin paths.
    pub fn name(self) -> &'static str {
        match self {
            BpfTarget::TcBpf => "tc-bpf",
            BpfTarget::TcBpfPerRule => "tc-bpf-per-rule",
            BpfTarget::Xdp => "xdp",
        }
    }

    fn hook(self) -> Hook {
        match self {
            BpfTarget::Xdp => Hook::Xdp,
            BpfTarget::TcBpf | BpfTarget::TcBpfPerRule => Hook::Tc,
        }
    }

    fn miss_action(self) -> i32 {
        match self {
            BpfTarget::Xdp => bpf::xdp::PASS,
            // TC_ACT_UNSPEC: the next filter decides.
            BpfTarget::TcBpf | BpfTarget::TcBpfPerRule => -1,
        }
    }
}

impl TryFrom<Target> for BpfTarget {
    type Error = Error;

    fn try_from(target: Target) -> Result<BpfTarget, Error> {
        match target {
            Target::TcBpf => Ok(BpfTarget::TcBpf),
            Target::TcBpfPerRule => Ok(BpfTarget::TcBpfPerRule),
            Target::Xdp => Ok(BpfTarget::Xdp),
            other => Err(Error::NotBpf(other)),
        }
    }
}

impl From<BpfTarget> for Target {
    fn from(target: BpfTarget) -> Target {
        match target {
            BpfTarget::TcBpf => Target::TcBpf,
            BpfTarget::TcBpfPerRule => Target::TcBpfPerRule,
            BpfTarget::Xdp => Target::Xdp,
        }
    }
}

impl fmt::Display for BpfTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where and how to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpfOptions {
    /// The interface the programs are attached to (ingress).
    pub dev: String,
    /// Interface names of the dataplane ports, by number: `fwd N` sends to `ports[N]`.
    pub ports: Vec<String>,
    /// Pins go to `pin_root/DEV/TARGET/`; must be on (or become) a bpffs mount.
    pub pin_root: PathBuf,
    /// tc prio of the first (or only) cls_bpf program; per-rule programs take the prios
    /// after it, in matching order.
    pub first_prio: u32,
}

impl BpfOptions {
    /// Options for `dev`: no ports, pins under [`DEFAULT_PIN_ROOT`], first prio 1.
    pub fn new(dev: &str) -> BpfOptions {
        BpfOptions { dev: dev.to_owned(), ports: Vec::new(), pin_root: PathBuf::from(DEFAULT_PIN_ROOT), first_prio: 1 }
    }

    /// `pin_root/DEV/TARGET`.
    pub fn pin_dir(&self, target: BpfTarget) -> PathBuf {
        self.pin_root.join(&self.dev).join(target.name())
    }
}

fn bpf_err(what: impl Into<String>) -> impl FnOnce(bpf::Error) -> Error {
    let what = what.into();
    move |source| Error::Bpf { what, source }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// The verdict of every rule, or why some cannot have one. Resolves `fwd` ports to
/// interface indexes in the calling thread's network namespace.
pub(crate) fn verdicts(set: &RuleSet, ports: &[String]) -> Result<Vec<Verdict>, Vec<Refusal>> {
    let mut verdicts = Vec::with_capacity(set.rules.len());
    let mut refusals = Vec::new();
    for (rule_index, rule) in set.rules.iter().enumerate() {
        // The program's parser reads Ethernet, one VLAN tag, IPv4/IPv6 and VXLAN only.
        if let Some(key) = rule.beyond_classic_key() {
            let reason = format!(
                "`{key}` is not matched by the eBPF targets (their parser reads Ethernet, one VLAN tag, \
                 IP, TCP/UDP/SCTP and VXLAN; use tc-flower or the dataplane)"
            );
            refusals.push(Refusal { rule_index, line: rule.line, reason });
            continue;
        }
        let Some(action) = rule.single_action() else {
            refusals.push(Refusal { rule_index, line: rule.line, reason: rule.not_single_reason() });
            continue;
        };
        let verdict = match action {
            Action::Drop => Ok(Verdict::Drop),
            Action::Pass => Ok(Verdict::Pass),
            Action::Reflect => Ok(Verdict::Reflect),
            Action::Fwd(port) => match ports.get(usize::from(*port)) {
                None => Err(format!(
                    "`fwd {port}` names port {port}, but only {} port(s) were given (ports are numbered from 0)",
                    ports.len()
                )),
                Some(name) => bpf::ifindex(name)
                    .map(Verdict::Redirect)
                    .map_err(|err| format!("`fwd {port}`: port {port} is interface `{name}`: {err}")),
            },
            // The device by name: any interface of the namespace the program runs in.
            Action::Redirect(dev) => bpf::ifindex(dev)
                .map(Verdict::Redirect)
                .map_err(|err| format!("`mirred egress redirect dev {dev}`: {err}")),
            Action::Encap(spec) => Err(format!(
                "`encap:{spec}` is not supported by the eBPF targets (pushing a tunnel header needs \
                 bpf_xdp_adjust_head and checksums; use the dataplane)"
            )),
            Action::Decap => Err("`decap` is not supported by the eBPF targets (use the dataplane)".to_owned()),
            Action::TtlDec => Err("`ttl-dec` is not supported by the eBPF targets (use the dataplane)".to_owned()),
            Action::Vlan(vlan) => Err(format!("`{vlan}` is not supported by the eBPF targets (use the dataplane)")),
            Action::Mpls(mpls) => Err(format!("`{mpls}` is not supported by the eBPF targets (use the dataplane)")),
            Action::TunnelKey(tunnel) => {
                Err(format!("`{tunnel}` is not supported by the eBPF targets (use the dataplane)"))
            }
            Action::Pedit(_) | Action::Csum(_) => {
                Err("`pedit` and `csum` are not supported by the eBPF targets (use the dataplane)".to_owned())
            }
            // A time schedule (802.1Qci) and an octet budget shared by every CPU: not in the
            // eBPF verdict programs.
            Action::Gate(_) => Err("`gate` is not supported by the eBPF targets (use the dataplane)".to_owned()),
            Action::Mirror(_)
            | Action::Blockcast { .. }
            | Action::Continue
            | Action::Goto(_)
            | Action::Jump(_)
            | Action::Police(_) => Err(rule.not_single_reason()),
        };
        match verdict {
            Ok(verdict) => verdicts.push(verdict),
            Err(reason) => refusals.push(Refusal { rule_index, line: rule.line, reason }),
        }
    }
    if refusals.is_empty() {
        Ok(verdicts)
    } else {
        Err(refusals)
    }
}

/// One loaded program.
#[derive(Debug)]
pub struct LoadedProgram {
    /// The verified program (its fd).
    pub program: Program,
    /// tc prio (tc targets).
    pub prio: Option<u32>,
    /// The rule it holds (per-rule target).
    pub rule_index: Option<usize>,
    /// Its length in instructions.
    pub instructions: usize,
}

/// Programs loaded and verified, not yet attached.
#[derive(Debug)]
pub struct Loaded {
    /// What the programs are for.
    pub target: BpfTarget,
    /// One, or one per rule (in matching order).
    pub programs: Vec<LoadedProgram>,
    /// Per-CPU u64 counters: `rules.len() + 1` entries.
    pub counters: Map,
    /// Rules in the set (the counters map has one more entry).
    pub rule_count: usize,
}

/// Generates and loads the programs of `target` for `set`. Nothing is attached or pinned.
pub fn load(set: &RuleSet, target: BpfTarget, opts: &BpfOptions) -> Result<Loaded, Error> {
    let verdicts = verdicts(set, &opts.ports).map_err(|refusals| Error::Refused { target: target.into(), refusals })?;
    let rule_count = set.rules.len();
    let entries = u32::try_from(rule_count + 1).map_err(|_| Error::TooManyRules { rules: rule_count })?;
    let counters = Map::create(MapType::PercpuArray, "rule_counters", 4, 8, entries)
        .map_err(bpf_err("create the rule counters map"))?;
    let scratch =
        Map::create(MapType::PercpuArray, "rules_scratch", 4, 8, 1).map_err(bpf_err("create the scratch map"))?;
    let code = |index: usize| RuleCode { index, rule: &set.rules[index], verdict: verdicts[index] };
    let hook = target.hook();
    let miss_index = rule_count as u32;
    let kind = if hook == Hook::Xdp { ProgType::Xdp } else { ProgType::SchedCls };
    let load_one = |name: &str, spec: ProgramSpec<'_>, prio: Option<u32>, rule_index: Option<usize>| {
        let insns: Vec<Insn> =
            codegen::generate(&spec).map_err(|source| Error::Assemble { program: name.to_string(), source })?;
        let program = Program::load(kind, name, &insns).map_err(bpf_err(format!("load BPF program `{name}`")))?;
        Ok::<LoadedProgram, Error>(LoadedProgram { program, prio, rule_index, instructions: insns.len() })
    };
    let programs = match target {
        BpfTarget::Xdp | BpfTarget::TcBpf => {
            let spec = ProgramSpec {
                hook,
                rules: set.order.iter().map(|&i| code(i)).collect(),
                counters_fd: counters.raw_fd(),
                scratch_fd: scratch.raw_fd(),
                miss_counter: Some(miss_index),
                miss_action: target.miss_action(),
            };
            let prio = (target == BpfTarget::TcBpf).then_some(opts.first_prio);
            vec![load_one(if target == BpfTarget::Xdp { "rules_xdp" } else { "rules_tc" }, spec, prio, None)?]
        }
        BpfTarget::TcBpfPerRule => {
            let last_prio = u64::from(opts.first_prio) + set.order.len() as u64;
            if last_prio > u64::from(u16::MAX) {
                return Err(Error::OutOfPrios {
                    target: target.into(),
                    rules: set.order.len(),
                    first_prio: opts.first_prio,
                });
            }
            let load_rule = |position: usize| {
                let index = set.order[position];
                let spec = ProgramSpec {
                    hook,
                    rules: vec![code(index)],
                    counters_fd: counters.raw_fd(),
                    scratch_fd: scratch.raw_fd(),
                    miss_counter: (position + 1 == set.order.len()).then_some(miss_index),
                    miss_action: target.miss_action(),
                };
                load_one(&format!("rule_{index}"), spec, Some(opts.first_prio + position as u32), Some(index))
            };
            // The verifier takes ~20 ms per program (the parser): spread them over the CPUs.
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(set.order.len().max(1));
            let mut slots: Vec<Option<Result<LoadedProgram, Error>>> = Vec::new();
            slots.resize_with(set.order.len(), || None);
            std::thread::scope(|scope| {
                for (thread, chunk) in slots.chunks_mut(set.order.len().div_ceil(threads).max(1)).enumerate() {
                    let load_rule = &load_rule;
                    let first = thread * set.order.len().div_ceil(threads).max(1);
                    scope.spawn(move || {
                        for (offset, slot) in chunk.iter_mut().enumerate() {
                            *slot = Some(load_rule(first + offset));
                        }
                    });
                }
            });
            slots.into_iter().map(|slot| slot.unwrap_or(Err(Error::LoaderThread))).collect::<Result<Vec<_>, _>>()?
        }
    };
    Ok(Loaded { target, programs, counters, rule_count })
}

/// Per-rule hit counts, summed over CPUs.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Counters {
    /// Index = rule's index in the file.
    pub per_rule: Vec<u64>,
    /// Frames no rule matched (counted by the last program).
    pub no_match: u64,
}

impl Counters {
    /// Reads a counters map (as [`Loaded::counters`] or a pinned one).
    pub fn read(map: &Map) -> Result<Counters, Error> {
        let mut values = vec![0u8; map.value_buf_len()];
        let mut sums = Vec::with_capacity(map.max_entries() as usize);
        for index in 0..map.max_entries() {
            map.lookup(&index.to_ne_bytes(), &mut values).map_err(bpf_err("read the rule counters"))?;
            let sum = values.chunks_exact(8).map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]))).sum();
            sums.push(sum);
        }
        let no_match = sums.pop().unwrap_or(0);
        Ok(Counters { per_rule: sums, no_match })
    }
}

/// The counters of an installed target, from its pinned map.
pub fn read_counters(opts: &BpfOptions, target: BpfTarget) -> Result<Counters, Error> {
    let path = opts.pin_dir(target).join("counters");
    let fd = bpf::get_pinned(&path).map_err(bpf_err(format!("open the counters of {target} on {}", opts.dev)))?;
    Counters::read(&Map::from_fd(fd).map_err(bpf_err("open the counters map"))?)
}

/// What [`compile_bpf`] installed.
#[derive(Debug)]
pub struct Compiled {
    /// What was installed.
    pub target: BpfTarget,
    /// Where its pins are (`remove` takes them away).
    pub pin_dir: PathBuf,
    /// The `tc -b` batch that attached the programs (tc targets).
    pub tc_batch: Option<String>,
    /// XDP attach mode (xdp target, when newly attached).
    pub xdp_mode: Option<XdpMode>,
    /// xdp target: an earlier compile's pinned link now runs the new program (swapped in
    /// place with `BPF_LINK_UPDATE`, no moment without a program); its mode is unchanged.
    pub replaced_in_place: bool,
    /// Programs loaded.
    pub programs: usize,
    /// Instructions over all of them.
    pub instructions: usize,
}

/// Loads, pins and attaches: what `rules compile --to tc-bpf|tc-bpf-per-rule|xdp` does.
/// A previous installation of the same target on the same device is replaced.
pub fn compile_bpf(set: &RuleSet, target: BpfTarget, opts: &BpfOptions) -> Result<Compiled, Error> {
    let loaded = load(set, target, opts)?;
    install(loaded, opts)
}

/// Pins and attaches loaded programs.
pub fn install(loaded: Loaded, opts: &BpfOptions) -> Result<Compiled, Error> {
    let target = loaded.target;
    let dir = opts.pin_dir(target);
    // Under /sys/fs/bpf the mount belongs at /sys/fs/bpf itself (sysfs has no room for
    // new directories); elsewhere, at the pin root.
    let bpffs = if opts.pin_root.starts_with(SYS_FS_BPF) { Path::new(SYS_FS_BPF) } else { opts.pin_root.as_path() };
    bpf::ensure_bpffs(bpffs).map_err(bpf_err("mount bpffs for the pins"))?;
    if target == BpfTarget::Xdp {
        let ifindex = bpf::ifindex(&opts.dev).map_err(bpf_err("find the interface"))?;
        if let Some(link) = pinned_xdp_link(&dir, ifindex) {
            return replace_xdp(&loaded, &dir, &link);
        }
        // Nothing of ours attached (or only a defunct link of a vanished interface).
        remove(opts, target)?;
    }
    // The old programs stay attached while tc replaces them; their pins go now.
    let old_prios = pinned_prios(&dir);
    if target != BpfTarget::Xdp {
        remove_pins(&dir)?;
    }
    std::fs::create_dir_all(&dir).map_err(io_err(format!("create pin directory {}", dir.display())))?;
    let pin = |fd, name: &str| {
        let path = dir.join(name);
        bpf::pin(fd, &path).map_err(bpf_err(format!("pin {}", path.display())))
    };
    pin(loaded.counters.fd(), "counters")?;
    let instructions = loaded.programs.iter().map(|p| p.instructions).sum();
    let programs = loaded.programs.len();
    match target {
        BpfTarget::Xdp => {
            let program = &loaded.programs[0].program;
            pin(program.fd(), "prog")?;
            let ifindex = bpf::ifindex(&opts.dev).map_err(bpf_err("find the interface"))?;
            let attached = Link::attach_xdp_auto(program, ifindex).map_err(bpf_err("attach the XDP program"));
            let (link, mode) = match attached {
                Ok(attached) => attached,
                Err(err) => {
                    // Nothing is attached: leave no pins suggesting otherwise.
                    let _ = remove_pins(&dir);
                    return Err(err);
                }
            };
            pin(link.fd(), "link")?;
            Ok(Compiled {
                target,
                pin_dir: dir,
                tc_batch: None,
                xdp_mode: Some(mode),
                replaced_in_place: false,
                programs,
                instructions,
            })
        }
        BpfTarget::TcBpf | BpfTarget::TcBpfPerRule => {
            let mut batch = String::new();
            if !has_clsact(&opts.dev)? {
                batch.push_str(&format!("qdisc add dev {} clsact\n", opts.dev));
            }
            let mut new_prios = Vec::new();
            for program in &loaded.programs {
                let prio = program.prio.unwrap_or(opts.first_prio);
                let name = format!("prio-{prio}");
                pin(program.program.fd(), &name)?;
                // `replace` creates, or swaps the program of an existing filter in place.
                batch.push_str(&format!(
                    "filter replace dev {} ingress prio {prio} handle 1 bpf object-pinned {} direct-action\n",
                    opts.dev,
                    dir.join(&name).display()
                ));
                new_prios.push(prio);
            }
            for prio in old_prios.into_iter().filter(|p| !new_prios.contains(p)) {
                batch.push_str(&format!("filter del dev {} ingress prio {prio}\n", opts.dev));
            }
            run_tc_batch(&batch, false)?;
            Ok(Compiled {
                target,
                pin_dir: dir,
                tc_batch: Some(batch),
                xdp_mode: None,
                replaced_in_place: false,
                programs,
                instructions,
            })
        }
    }
}

/// The link an earlier `--to xdp` pinned in `dir`, if it is still attached to `ifindex`.
fn pinned_xdp_link(dir: &Path, ifindex: u32) -> Option<Link> {
    let link = Link::from_fd(bpf::get_pinned(&dir.join("link")).ok()?);
    match link.info() {
        Ok(info) if info.xdp_ifindex == Some(ifindex) => Some(link),
        _ => None,
    }
}

/// Swaps the program of the pinned XDP `link` for the loaded one, without a moment when
/// the interface has no program: the new counters and program are pinned under `-new`
/// names first (bpffs reserves dots in names; a failure there changes nothing), then
/// `BPF_LINK_UPDATE` (a failure keeps the old program attached and its pins), then the
/// new pins are renamed over the old.
fn replace_xdp(loaded: &Loaded, dir: &Path, link: &Link) -> Result<Compiled, Error> {
    let program = &loaded.programs[0].program;
    let staged = [("counters", loaded.counters.fd()), ("prog", program.fd())];
    let unstage = || {
        for (name, _) in &staged {
            let _ = std::fs::remove_file(dir.join(format!("{name}-new")));
        }
    };
    unstage();
    for (name, fd) in &staged {
        let path = dir.join(format!("{name}-new"));
        if let Err(err) = bpf::pin(*fd, &path) {
            unstage();
            return Err(bpf_err(format!("pin {}", path.display()))(err));
        }
    }
    if let Err(err) = link.update(program, None) {
        unstage();
        return Err(bpf_err(format!(
            "replace the attached XDP program (the old one stays attached, pinned at {})",
            dir.join("link").display()
        ))(err));
    }
    for (name, _) in &staged {
        let (from, to) = (dir.join(format!("{name}-new")), dir.join(name));
        std::fs::rename(&from, &to).map_err(io_err(format!(
            "move pin {} to {} (the new program is attached)",
            from.display(),
            to.display()
        )))?;
    }
    Ok(Compiled {
        target: BpfTarget::Xdp,
        pin_dir: dir.to_path_buf(),
        tc_batch: None,
        xdp_mode: None,
        replaced_in_place: true,
        programs: loaded.programs.len(),
        instructions: loaded.programs.iter().map(|p| p.instructions).sum(),
    })
}

/// Detaches and unpins what [`compile_bpf`] installed for `target` on `opts.dev`.
/// Nothing installed is not an error.
pub fn remove(opts: &BpfOptions, target: BpfTarget) -> Result<(), Error> {
    let dir = opts.pin_dir(target);
    if target != BpfTarget::Xdp {
        let prios = pinned_prios(&dir);
        if !prios.is_empty() && bpf::ifindex(&opts.dev).is_ok() {
            let batch: String =
                prios.iter().map(|prio| format!("filter del dev {} ingress prio {prio}\n", opts.dev)).collect();
            // A filter someone already deleted is no reason to keep the rest.
            run_tc_batch(&batch, true)?;
        }
    }
    // Unpinning the XDP link drops its last reference: the program detaches.
    remove_pins(&dir)
}

fn remove_pins(dir: &Path) -> Result<(), Error> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                std::fs::remove_file(entry.path()).map_err(io_err(format!("unpin {}", entry.path().display())))?;
            }
            let _ = std::fs::remove_dir(dir);
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io_err(format!("list pins in {}", dir.display()))(err)),
    }
}

fn pinned_prios(dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut prios: Vec<u32> =
        entries.flatten().filter_map(|e| e.file_name().to_str()?.strip_prefix("prio-")?.parse().ok()).collect();
    prios.sort_unstable();
    prios
}

fn has_clsact(dev: &str) -> Result<bool, Error> {
    let shown = format!("tc qdisc show dev {dev}");
    let out = run(Command::new("tc").args(["qdisc", "show", "dev", dev]), &shown, None, "")?;
    Ok(out.contains("qdisc clsact"))
}

/// Runs `tc -b -` on `batch` (with `-force` to go on after errors when `force`, and then
/// a failing line is no error).
fn run_tc_batch(batch: &str, force: bool) -> Result<(), Error> {
    let mut command = Command::new("tc");
    if force {
        command.arg("-force");
    }
    command.args(["-b", "-"]);
    match run(&mut command, &format!("tc -b - <<EOF\n{batch}EOF"), Some(batch), "") {
        Err(Error::Command { .. }) if force => Ok(()),
        other => other.map(drop),
    }
}

#[cfg(test)]
mod tests;
