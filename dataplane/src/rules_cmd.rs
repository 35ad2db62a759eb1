//! `dataplane rules check | classify | compile`: the rule file outside a running dataplane.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use emit::bpf::{self, BpfOptions, BpfTarget};
use emit::{compile_tc, EmitOptions, KernelCaps, Target};
use rules::{parse_file_checked, parse_file_noted, parse_trace_file, Format};
use rules::{Action, RuleSet};
use serde_json::json;

use engine::pipeline::classify::{build_classifier, ClassifierKind};
use engine::pipeline::Rewrite;

use crate::error::CliError;

/// Parses `path`, checking what only the dataplane knows (the `encap` arguments) with every
/// other error: each as `file:line:col: message`.
pub fn load_checked(path: &Path, format: Format) -> Result<RuleSet, Vec<String>> {
    parse_file_checked(path, format, &check_action).map_err(|errors| errors.iter().map(ToString::to_string).collect())
}

/// The dataplane's part of checking a rule: its rewrite arguments parse.
pub fn check_action(action: &Action) -> Result<(), String> {
    match action {
        Action::Encap(args) => format!("encap:{args}").parse::<Rewrite>().map(drop).map_err(|e| e.to_string()),
        _ => Ok(()),
    }
}

/// `rules check FILE`: the warnings (a number tc reads otherwise than as decimal), with
/// `explain` each rule as it was read (in tc's words, numbers as tc reads them), and a
/// one-line summary; or every error and `Err`.
pub fn check(path: &Path, format: Format, explain: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let (set, notes) = match format {
        Format::Native => parse_file_noted(path, &check_action)
            .map_err(|errors| report(path, &errors.iter().map(ToString::to_string).collect::<Vec<_>>()))?,
        Format::Classbench => (load_checked(path, format).map_err(|errors| report(path, &errors))?, Vec::new()),
    };
    let io = |e: std::io::Error| CliError::Other(format!("writing the report: {e}"));
    if explain {
        for rule in &set.rules {
            writeln!(out, "{}:{}: {rule}", path.display(), rule.line).map_err(io)?;
        }
    }
    for note in &notes {
        writeln!(out, "{note}").map_err(io)?;
    }
    let started = Instant::now();
    let classifier = build_classifier(&set, ClassifierKind::Fast)
        .map_err(|message| CliError::File(format!("{}: {message}", path.display())))?;
    let built = started.elapsed();
    let tunnel_rules = set
        .rules
        .iter()
        .filter(|r| {
            r.keys.enc_key_id.is_some()
                || r.keys.enc_src_ip.is_some()
                || r.keys.enc_dst_ip.is_some()
                || r.keys.enc_dst_port.is_some()
        })
        .count();
    writeln!(
        out,
        "{}: {} rules OK ({} with tunnel keys); {} classifier built in {:.2} ms",
        path.display(),
        set.len(),
        tunnel_rules,
        classifier.name(),
        built.as_secs_f64() * 1e3
    )
    .map_err(io)
}

/// Every error of a rule file (each starting with its `file:line:col:`), then how many.
fn report(path: &Path, errors: &[String]) -> CliError {
    CliError::File(format!("{}\n{}: {} error(s), nothing applied", errors.join("\n"), path.display(), errors.len()))
}

/// `rules classify RULES --trace TRACE`.
pub struct ClassifyArgs<'a> {
    /// The rule file.
    pub rules: &'a Path,
    /// The packets: one `src dst sport dport proto` per line.
    pub trace: &'a Path,
    /// The rule file's format.
    pub format: Format,
    /// How many times the whole trace is classified, for the rate.
    pub repeat: u32,
    /// JSON lines instead of the human summary.
    pub json: bool,
    /// Which classifier.
    pub classifier: ClassifierKind,
}

/// Classifies every trace packet (`repeat` times, for a stable rate) and prints the first
/// matching rule of each (`--json`) and the lookup rate.
pub fn classify(args: &ClassifyArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let set = load_checked(args.rules, args.format).map_err(|errors| report(args.rules, &errors))?;
    // At most rules::MAX_TRACE_FILE_BYTES, lines and words bounded as in rule files.
    let keys = parse_trace_file(args.trace).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        CliError::file_lines(&lines)
    })?;
    let built_at = Instant::now();
    let classifier = build_classifier(&set, args.classifier)
        .map_err(|message| CliError::File(format!("{}: {message}", args.rules.display())))?;
    let build_seconds = built_at.elapsed().as_secs_f64();
    let answers: Vec<Option<usize>> = keys.iter().map(|key| classifier.classify(key)).collect();
    let repeat = args.repeat.max(1);
    let started = Instant::now();
    let mut checksum = 0usize;
    for _ in 0..repeat {
        for key in &keys {
            checksum = checksum.wrapping_add(classifier.classify(std::hint::black_box(key)).unwrap_or(usize::MAX));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(checksum);
    let lookups = keys.len() as f64 * f64::from(repeat);
    let mpps = if seconds > 0.0 { lookups / seconds / 1e6 } else { 0.0 };
    let io = |e: std::io::Error| CliError::Other(format!("writing the answers: {e}"));
    if args.json {
        // With chains or action lists, also where matching ended (rules::chain: every
        // policer conforming, no rewrite changing the key).
        let chained = !set.is_single_actions();
        for (index, answer) in answers.iter().enumerate() {
            let rule = answer.map_or(-1, |k| k as i64);
            let mut line = json!({"index": index, "rule": rule});
            if chained {
                let outcome = rules::chain::decide(&set, &keys[index], |_, _| true);
                line["outcome"] = json!(outcome.name());
                line["last_rule"] = json!(outcome.rule().map_or(-1, |k| k as i64));
            }
            writeln!(out, "{line}").map_err(io)?;
        }
        let summary = json!({
            "packets": keys.len(), "repeat": repeat, "seconds": seconds, "mpps": mpps,
            "classifier": classifier.name(), "rules": set.len(), "build_seconds": build_seconds,
        });
        writeln!(out, "{summary}").map_err(io)?;
    } else {
        let matched = answers.iter().filter(|a| a.is_some()).count();
        writeln!(
            out,
            "{} packets x {repeat} against {} rules: {matched} matched, {} no match; {:.2} Mpps ({:.1} ns/lookup, {} classifier, built in {:.2} ms)",
            keys.len(),
            set.len(),
            keys.len() - matched,
            mpps,
            if lookups > 0.0 { seconds * 1e9 / lookups } else { 0.0 },
            classifier.name(),
            build_seconds * 1e3
        )
        .map_err(io)?;
    }
    Ok(())
}

/// `rules compile FILE --to TARGET --dev NAME`.
pub struct CompileArgs<'a> {
    /// The rule file.
    pub file: &'a Path,
    /// The rule file's format.
    pub format: Format,
    /// `--to`: tc-u32, tc-flower, tc-bpf, tc-bpf-per-rule or xdp.
    pub target: &'a str,
    /// The interface whose ingress gets the rules.
    pub dev: &'a str,
    /// For `fwd N`: the interface of port N, in port order.
    pub port_devs: &'a [String],
    /// For `drop` where the kernel has no act_gact: the dead-end interface.
    pub drop_dev: Option<&'a str>,
    /// Remove what an earlier compile attached instead.
    pub remove: bool,
    /// Where BPF targets pin (default /sys/fs/bpf/dataplane).
    pub pin_root: Option<&'a Path>,
}

/// Expresses the rule file for `args.target`: prints a tc batch, or loads, pins and
/// attaches BPF programs (or removes what an earlier compile attached).
pub fn compile(args: &CompileArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let target = args.target.parse::<Target>().map_err(|e| CliError::Other(e.to_string()))?;
    let set = load_checked(args.file, args.format).map_err(|errors| report(args.file, &errors))?;
    let caps = match KernelCaps::running() {
        Ok(caps) => caps,
        Err(why) => {
            eprintln!("dataplane: could not probe this kernel ({why}); writing for a kernel that has every tc module");
            KernelCaps::everything()
        }
    };
    match target {
        Target::TcU32 | Target::TcFlower if args.remove => {
            writeln!(out, "filter del dev {} ingress", args.dev).map_err(CliError::from)
        }
        Target::TcU32 | Target::TcFlower => {
            let mut opts = EmitOptions::new(args.dev, caps);
            opts.ports = args.port_devs.to_vec();
            opts.drop_dev = args.drop_dev.map(str::to_string);
            let batch = compile_tc(&set, target, &opts)
                .map_err(|e| CliError::File(format!("{}: --to {target}: {e}", args.file.display())))?;
            out.write_all(batch.text.as_bytes()).map_err(CliError::from)?;
            if !batch.text.ends_with('\n') {
                writeln!(out).map_err(CliError::from)?;
            }
            eprintln!(
                "dataplane: {} rules -> {} tc filters (expansion factor {:.2}) for {} ingress",
                set.len(),
                batch.filters,
                batch.expansion_factor,
                args.dev
            );
            for note in &batch.notes {
                eprintln!("  note: {note}");
            }
            if let Err(why) = caps.can_apply(target) {
                eprintln!("dataplane: {why}");
            }
            Ok(())
        }
        Target::TcBpf | Target::TcBpfPerRule | Target::Xdp => {
            let bpf_target = BpfTarget::try_from(target).map_err(|e| CliError::Other(e.to_string()))?;
            let mut opts = BpfOptions::new(args.dev);
            opts.ports = args.port_devs.to_vec();
            if let Some(root) = args.pin_root {
                opts.pin_root = root.to_path_buf();
            }
            let fail = |e: emit::Error| CliError::File(format!("{}: --to {target}: {e}", args.file.display()));
            if args.remove {
                bpf::remove(&opts, bpf_target).map_err(fail)?;
                eprintln!("dataplane: removed {target} from {} ({})", args.dev, opts.pin_dir(bpf_target).display());
                return Ok(());
            }
            let started = std::time::Instant::now();
            let compiled = bpf::compile_bpf(&set, bpf_target, &opts).map_err(fail)?;
            if let Some(batch) = &compiled.tc_batch {
                writeln!(out, "{}", batch.trim_end()).map_err(CliError::from)?;
            }
            eprintln!(
                "dataplane: {} rules -> {} program(s), {} instructions, loaded and attached to {}{} in {:.1} s; \
                 pinned under {} (per-rule counters in its map; remove with --remove)",
                set.len(),
                compiled.programs,
                compiled.instructions,
                args.dev,
                match compiled.xdp_mode {
                    Some(::bpf::XdpMode::Driver) => " (native XDP)",
                    Some(::bpf::XdpMode::Generic) => " (generic XDP)",
                    None if compiled.replaced_in_place => " (replacing the previous program in its link, atomically)",
                    None => " ingress (cls_bpf, direct action)",
                },
                started.elapsed().as_secs_f64(),
                compiled.pin_dir.display()
            );
            Ok(())
        }
    }
}
