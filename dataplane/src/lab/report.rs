//! results.csv, results.json and report.md, with conclusions computed from the numbers.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};

use super::model::{Action, Match, Row, Status, Target, Traffic};
use super::{plot, Machine};

/// The columns of results.csv: the contract's first (design.md section 4), then extras.
pub const CSV_COLUMNS: [&str; 22] = [
    "target",
    "rules",
    "match",
    "action",
    "size",
    "traffic",
    "offered_pps",
    "processed_pps",
    "delivered_pps",
    "delivered_gbps",
    "loss_pct",
    "dut_cpu_ns_per_pkt",
    "arrived_pps",
    "trials",
    "core0_busy_pct",
    "core1_busy_pct",
    "napi_busy_pct",
    "ndr_pps",
    "processed_source",
    "placement",
    "status",
    "reason",
];

/// A rate as people read it.
pub fn pps(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2} Mpps", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.0} kpps", value / 1e3)
    } else {
        format!("{value:.0} pps")
    }
}

fn opt(value: Option<f64>, digits: usize) -> String {
    value.filter(|v| v.is_finite()).map(|v| format!("{v:.digits$}")).unwrap_or_default()
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

pub fn csv(rows: &[Row]) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for row in rows {
        let p = &row.point;
        let ok = row.status == Status::Ok;
        let num = |v: Option<f64>, d: usize| if ok { opt(v, d) } else { String::new() };
        let fields = [
            p.target.name().to_string(),
            p.rules.to_string(),
            p.matching.name().to_string(),
            p.action.name().to_string(),
            p.size.to_string(),
            p.traffic.name().to_string(),
            num(row.offered(), 0),
            num(row.processed(), 0),
            num(row.delivered(), 0),
            num(row.delivered_gbps(), 3),
            num(row.loss_pct(), 2),
            num(row.ns_per_pkt(), 1),
            num(row.arrived(), 0),
            row.trials.len().to_string(),
            num(row.core_busy(0).map(|f| f * 100.0), 1),
            num(row.core_busy(1).map(|f| f * 100.0), 1),
            num(row.napi_busy().map(|f| f * 100.0), 1),
            num(row.ndr_pps, 0),
            row.processed_source.to_string(),
            row.placement.clone(),
            row.status.name().to_string(),
            row.status.reason().to_string(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// One line per measured point, for the console.
pub fn one_line(row: &Row) -> String {
    match &row.status {
        Status::Ok => format!(
            "{}: offered {}, processed {}, delivered {}, loss {}%, {} ns/pkt on core 1",
            row.point,
            row.offered().map(pps).unwrap_or_default(),
            row.processed().map(pps).unwrap_or_default(),
            row.delivered().map(pps).unwrap_or_default(),
            opt(row.loss_pct(), 1),
            opt(row.ns_per_pkt(), 0)
        ),
        other => format!("{}: {} ({})", row.point, other.name(), other.reason()),
    }
}

fn find(rows: &[Row], f: impl Fn(&Row) -> bool) -> Option<&Row> {
    rows.iter().find(|r| r.status == Status::Ok && f(r))
}

/// A conclusion: what was asked, the measured ratio, and whether it holds.
pub struct Conclusion {
    pub claim: String,
    pub ratio: Option<f64>,
    pub goal: f64,
    pub detail: String,
}

impl Conclusion {
    pub fn verdict(&self) -> &'static str {
        match self.ratio {
            Some(r) if r >= self.goal => "met",
            Some(_) => "not met",
            None => "not measured",
        }
    }
}

/// The base case the targets are stated for: the smallest frame, UDP, preferring 64 B.
fn base(rows: &[Row]) -> (u16, Traffic) {
    let size = rows.iter().filter(|r| r.status == Status::Ok).map(|r| r.point.size).min().unwrap_or(64);
    (size, Traffic::Udp)
}

pub fn conclusions(rows: &[Row]) -> Vec<Conclusion> {
    let (size, traffic) = base(rows);
    let drop_at = |target: Target, n: usize| {
        find(rows, |r| {
            r.point.action == Action::Drop
                && r.point.target == target
                && r.point.rules == n
                && r.point.matching == Match::Last
                && r.point.size == size
                && r.point.traffic == traffic
        })
    };
    let most = rows
        .iter()
        .filter(|r| r.status == Status::Ok && r.point.action == Action::Drop)
        .map(|r| r.point.rules)
        .max()
        .unwrap_or(1000);
    let fewest = rows
        .iter()
        .filter(|r| r.status == Status::Ok && r.point.action == Action::Drop)
        .map(|r| r.point.rules)
        .min()
        .unwrap_or(1);
    let mut out = Vec::new();
    let ratio = |a: Option<&Row>, b: Option<&Row>| match (a.and_then(Row::figure), b.and_then(Row::figure)) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let detail = |a: Option<&Row>, b: Option<&Row>| {
        format!(
            "{} vs {}",
            a.and_then(Row::figure).map(pps).unwrap_or_else(|| "-".into()),
            b.and_then(Row::figure).map(pps).unwrap_or_else(|| "-".into())
        )
    };
    let dp_most = drop_at(Target::Dataplane, most);
    for (other, goal) in [(Target::TcU32, 10.0), (Target::TcBpfPerRule, 10.0)] {
        let o = drop_at(other, most);
        out.push(Conclusion {
            claim: format!("dataplane at {most} rules (last matches, drop, {size} B udp) >= {goal}x {other}"),
            ratio: ratio(dp_most, o),
            goal,
            detail: detail(dp_most, o),
        });
    }
    let dp_few = drop_at(Target::Dataplane, fewest);
    out.push(Conclusion {
        claim: format!("dataplane at {most} rules >= 0.9x itself at {fewest} rule(s)"),
        ratio: ratio(dp_most, dp_few),
        goal: 0.9,
        detail: detail(dp_most, dp_few),
    });
    let fwd = |target: Target| {
        rows.iter()
            .filter(|r| {
                r.status == Status::Ok
                    && r.point.action == Action::Fwd
                    && r.point.target == target
                    && r.point.size == size
                    && r.point.traffic == traffic
            })
            .min_by_key(|r| r.point.rules)
    };
    let (dp, tp) = (fwd(Target::Dataplane), fwd(Target::DpdkTestpmd));
    out.push(Conclusion {
        claim: format!(
            "dataplane forwarding ({} rule(s), {size} B udp, delivered at the sink) >= 1.0x dpdk-testpmd io",
            dp.map(|r| r.point.rules).unwrap_or(1)
        ),
        ratio: ratio(dp, tp),
        goal: 1.0,
        detail: detail(dp, tp),
    });
    out
}

/// Where the generator, not the device, set the figure: the device took (nearly) all it was
/// offered at the fewest rules.
pub fn generator_limits(rows: &[Row]) -> Vec<String> {
    let mut lines = Vec::new();
    let (size, traffic) = base(rows);
    for action in [Action::Drop, Action::Fwd] {
        for target in Target::ALL {
            let row = rows
                .iter()
                .filter(|r| {
                    r.status == Status::Ok
                        && r.point.action == action
                        && r.point.target == target
                        && r.point.size == size
                        && r.point.traffic == traffic
                })
                .min_by_key(|r| r.point.rules);
            let Some(row) = row else { continue };
            let (Some(offered), Some(got)) = (row.offered(), row.figure()) else { continue };
            let share = if offered > 0.0 { got / offered } else { 0.0 };
            let verdict = if share >= 0.97 {
                "**the generator was the limit** (the device kept up with everything offered)"
            } else {
                "the device was the limit (offered more than it handled)"
            };
            lines.push(format!(
                "{target} {}, {} rule(s): offered {}, {} {} ({:.0}%): {verdict}",
                action.name(),
                row.point.rules,
                pps(offered),
                if action == Action::Drop { "processed" } else { "delivered" },
                pps(got),
                share * 100.0
            ));
        }
    }
    lines
}

fn machine_json(m: &Machine) -> Value {
    json!({
        "date": m.date, "kernel": m.kernel, "cpu": m.cpu, "cores": m.cores, "dpdk": m.dpdk,
        "iproute2": m.iproute2, "commit": m.commit, "lacks": m.lacks, "notes": m.notes,
        "command": m.command, "profile": m.profile, "trials": m.trials, "seconds": m.seconds,
    })
}

pub fn json(machine: &Machine, rows: &[Row]) -> Value {
    let values: Vec<Value> = rows
        .iter()
        .map(|r| {
            let p = &r.point;
            json!({
                "target": p.target.name(), "rules": p.rules, "match": p.matching.name(),
                "action": p.action.name(), "size": p.size, "traffic": p.traffic.name(),
                "status": r.status.name(), "reason": r.status.reason(),
                "offered_pps": r.offered(), "arrived_pps": r.arrived(), "processed_pps": r.processed(),
                "delivered_pps": r.delivered(), "delivered_gbps": r.delivered_gbps(), "loss_pct": r.loss_pct(),
                "dut_cpu_ns_per_pkt": r.ns_per_pkt(), "ndr_pps": r.ndr_pps,
                "processed_source": r.processed_source, "placement": r.placement, "notes": r.notes,
                "trials": r.trials.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let conclusions: Vec<Value> = conclusions(rows)
        .iter()
        .map(
            |c| json!({"claim": c.claim, "ratio": c.ratio, "goal": c.goal, "verdict": c.verdict(), "detail": c.detail}),
        )
        .collect();
    json!({"machine": machine_json(machine), "rows": values, "conclusions": conclusions})
}

fn md_rule_tables(out: &mut String, rows: &[Row]) {
    let drop: Vec<&Row> =
        rows.iter().filter(|r| r.point.action == Action::Drop && r.point.target.classifies()).collect();
    let combos: BTreeSet<(Traffic, u16, Match)> =
        drop.iter().map(|r| (r.point.traffic, r.point.size, r.point.matching)).collect();
    let counts: BTreeSet<usize> = drop.iter().map(|r| r.point.rules).collect();
    for (traffic, size, matching) in combos {
        let _ = writeln!(
            out,
            "\n**drop, {size} B {}, the {} rule matches**: processed pps (CPU ns per frame on core 1)\n",
            traffic.name(),
            matching.name()
        );
        let header: Vec<String> = counts.iter().map(|n| format!("{n} rules")).collect();
        let _ = writeln!(out, "| target | {} | offered |", header.join(" | "));
        let _ = writeln!(out, "|---|{}---|", "---|".repeat(counts.len()));
        for target in Target::ALL.into_iter().filter(|t| t.classifies()) {
            let mut cells = Vec::new();
            let mut offered = None;
            let mut any = false;
            for &n in &counts {
                let row = drop.iter().find(|r| {
                    r.point.target == target
                        && r.point.rules == n
                        && r.point.traffic == traffic
                        && r.point.size == size
                        && r.point.matching == matching
                });
                cells.push(match row {
                    Some(r) if r.status == Status::Ok => {
                        any = true;
                        offered = offered.or(r.offered());
                        format!("{} ({} ns)", r.processed().map(pps).unwrap_or_default(), opt(r.ns_per_pkt(), 0))
                    }
                    Some(r) => {
                        any = true;
                        r.status.name().to_string()
                    }
                    None => "-".into(),
                });
            }
            if any {
                let _ = writeln!(
                    out,
                    "| {target} | {} | {} |",
                    cells.join(" | "),
                    offered.map(pps).unwrap_or_else(|| "-".into())
                );
            }
        }
    }
}

fn md_fwd_table(out: &mut String, rows: &[Row]) {
    let fwd: Vec<&Row> = rows.iter().filter(|r| r.point.action == Action::Fwd && r.status == Status::Ok).collect();
    if fwd.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Forwarding (classify, then forward to the sink; counted at the sink)\n");
    let _ = writeln!(
        out,
        "| target | rules | size | traffic | offered | processed | delivered | Gbps | loss | ns/frame core 1 | core 1 busy |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
    for r in fwd {
        let p = &r.point;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {}% | {} | {}% |",
            p.target,
            p.rules,
            p.size,
            p.traffic.name(),
            r.offered().map(pps).unwrap_or_default(),
            r.processed().map(pps).unwrap_or_default(),
            r.delivered().map(pps).unwrap_or_default(),
            opt(r.delivered_gbps(), 2),
            opt(r.loss_pct(), 1),
            opt(r.ns_per_pkt(), 0),
            opt(r.core_busy(1).map(|f| f * 100.0), 0)
        );
    }
}

pub fn markdown(machine: &Machine, rows: &[Row], figures: &[(String, String)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# dataplane lab report\n");
    let _ = writeln!(out, "{}; kernel {}; CPU {} ({} cores)", machine.date, machine.kernel, machine.cpu, machine.cores);
    let _ = writeln!(
        out,
        "DPDK {}; {}; commit {}.\n",
        if machine.dpdk.is_empty() { "not installed" } else { &machine.dpdk },
        machine.iproute2,
        if machine.commit.is_empty() { "?" } else { &machine.commit }
    );
    let _ = writeln!(
        out,
        "`{}` (profile {}, {} trial(s) of {} s per point, medians). Generator (`dataplane gen --engine live`, \
         BPF_PROG_RUN live frames) and sink on core 0; the device under test's processes and classification on core 1 \
         (where each kernel half ran: see below). \
         Method and caveats: docs/lab.md.\n",
        machine.command, machine.profile, machine.trials, machine.seconds
    );
    if !machine.lacks.is_empty() {
        let _ = writeln!(out, "What this kernel/machine lacks:\n");
        for l in &machine.lacks {
            let _ = writeln!(out, "- {l}");
        }
        out.push('\n');
    }
    if !machine.notes.is_empty() {
        let _ = writeln!(out, "Notes:\n");
        for l in &machine.notes {
            let _ = writeln!(out, "- {l}");
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Conclusions (computed from this run)\n");
    let _ = writeln!(out, "| target | measured | ratio | goal | verdict |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for c in conclusions(rows) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | >= {} | {} |",
            c.claim,
            c.detail,
            c.ratio.map(|r| format!("{r:.2}x")).unwrap_or_else(|| "-".into()),
            c.goal,
            c.verdict()
        );
    }
    let limits = generator_limits(rows);
    if !limits.is_empty() {
        let _ = writeln!(out, "\nGenerator against device, at the fewest rules:\n");
        for l in limits {
            let _ = writeln!(out, "- {l}");
        }
    }

    let _ = writeln!(out, "\n## Rule scaling (drop: classify, then dispose)");
    md_rule_tables(&mut out, rows);
    md_fwd_table(&mut out, rows);

    let _ = writeln!(out, "\n## Where the work ran\n");
    let _ = writeln!(out, "| target | action | core 0 busy | core 1 busy | placement |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    let mut seen = BTreeSet::new();
    for r in rows.iter().filter(|r| r.status == Status::Ok) {
        if seen.insert((r.point.target, r.point.action)) {
            let _ = writeln!(
                out,
                "| {} | {} | {}% | {}% | {} |",
                r.point.target,
                r.point.action.name(),
                opt(r.core_busy(0).map(|f| f * 100.0), 0),
                opt(r.core_busy(1).map(|f| f * 100.0), 0),
                r.placement
            );
        }
    }
    let _ = writeln!(
        out,
        "\nCore busy = share of the trial the core was not idle (/proc/stat), whoever used it: the \
         machine is shared, so other work inflates these and the ns/frame figures."
    );

    let mut notes: Vec<(Target, &str)> = Vec::new();
    for r in rows {
        for n in &r.notes {
            if !notes.contains(&(r.point.target, n.as_str())) {
                notes.push((r.point.target, n));
            }
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "\n## What the rule compiler said\n");
        for (target, note) in notes {
            let _ = writeln!(out, "- {target}: {note}");
        }
    }
    if rows.iter().any(|r| r.ndr_pps.is_some()) {
        let _ = writeln!(out, "\n## Zero-loss rates (RFC 2544 section 26.1, AF_XDP-paced generator)\n");
        let _ = writeln!(out, "| point | zero-loss rate |");
        let _ = writeln!(out, "|---|---|");
        for r in rows.iter().filter(|r| r.status == Status::Ok) {
            if let Some(ndr) = r.ndr_pps {
                let cell = if ndr > 0.0 { pps(ndr) } else { "none found >= 1 kpps".to_string() };
                let _ = writeln!(out, "| {} | {cell} |", r.point);
            }
        }
    }
    let not_ok: Vec<&Row> = rows.iter().filter(|r| r.status != Status::Ok).collect();
    if !not_ok.is_empty() {
        let _ = writeln!(out, "\n## Skipped and failed\n");
        let mut grouped: Vec<(String, String, String, usize)> = Vec::new();
        for r in not_ok {
            let key = (r.point.target.name().to_string(), r.status.name().to_string(), r.status.reason().to_string());
            match grouped.iter_mut().find(|g| (g.0.as_str(), g.1.as_str(), g.2.as_str()) == (&key.0, &key.1, &key.2)) {
                Some(g) => g.3 += 1,
                None => grouped.push((key.0, key.1, key.2, 1)),
            }
        }
        for (target, status, reason, n) in grouped {
            let _ = writeln!(out, "- {target}: {status} ({n} point(s)): {reason}");
        }
    }
    if !figures.is_empty() {
        let _ = writeln!(out, "\n## Figures\n");
        for (file, title) in figures {
            let _ = writeln!(out, "![{title}]({file})\n");
        }
    }
    out
}

/// Writes every output file into `dir`.
pub fn write_all(dir: &Path, machine: &Machine, rows: &[Row]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("results.csv"), csv(rows))?;
    let value = json(machine, rows);
    let text = serde_json::to_string_pretty(&value).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("results.json"), text + "\n")?;
    let figures = plot::all(dir, rows);
    std::fs::write(dir.join("report.md"), markdown(machine, rows, &figures))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::model::{Point, Trial};

    fn row(target: Target, action: Action, rules: usize, processed: f64, delivered: f64) -> Row {
        let point = Point { action, target, rules, matching: Match::Last, size: 64, traffic: Traffic::Udp };
        let mut r = Row::new(point, Status::Ok);
        r.trials.push(Trial {
            seconds: 2.0,
            offered_pps: 2e6,
            processed_pps: processed,
            delivered_pps: delivered,
            ..Trial::default()
        });
        r
    }

    #[test]
    fn csv_has_the_contract_columns_first() {
        let text = csv(&[row(Target::TcU32, Action::Drop, 1, 1e6, 0.0)]);
        let header = text.lines().next().unwrap();
        assert!(header.starts_with("target,rules,match,action,size,traffic,offered_pps,processed_pps,delivered_pps,delivered_gbps,loss_pct,dut_cpu_ns_per_pkt"));
        let line = text.lines().nth(1).unwrap();
        assert!(line.starts_with("tc-u32,1,last,drop,64,udp,2000000,1000000,0,0.000,50.00,"), "{line}");
    }

    #[test]
    fn conclusions_are_ratios_of_the_rows() {
        let rows = vec![
            row(Target::Dataplane, Action::Drop, 1, 1.5e6, 0.0),
            row(Target::Dataplane, Action::Drop, 1000, 1.4e6, 0.0),
            row(Target::TcU32, Action::Drop, 1000, 1e5, 0.0),
            row(Target::TcBpfPerRule, Action::Drop, 1000, 2e5, 0.0),
            row(Target::Dataplane, Action::Fwd, 1, 1.4e6, 5e5),
            row(Target::DpdkTestpmd, Action::Fwd, 0, 1.4e6, 4e5),
        ];
        let c = conclusions(&rows);
        assert_eq!(c.len(), 4);
        assert!((c[0].ratio.unwrap() - 14.0).abs() < 1e-9);
        assert_eq!(c[0].verdict(), "met");
        assert!((c[1].ratio.unwrap() - 7.0).abs() < 1e-9);
        assert_eq!(c[1].verdict(), "not met");
        assert!((c[2].ratio.unwrap() - 1.4 / 1.5).abs() < 1e-9);
        assert!((c[3].ratio.unwrap() - 1.25).abs() < 1e-9);
        let md = markdown(&Machine::default(), &rows, &[]);
        assert!(md.contains("14.00x"));
    }

    #[test]
    fn skipped_rows_have_no_numbers() {
        let point = Point {
            action: Action::Drop,
            target: Target::TcFlower,
            rules: 1,
            matching: Match::Last,
            size: 64,
            traffic: Traffic::Udp,
        };
        let text = csv(&[Row::new(point, Status::Skipped("no cls_flower, here".into()))]);
        let line = text.lines().nth(1).unwrap();
        assert!(line.starts_with("tc-flower,1,last,drop,64,udp,,,,,,,"), "{line}");
        assert!(line.ends_with("skipped,\"no cls_flower, here\""), "{line}");
    }
}
