//! The engine's counters as the stats JSON of `run` (design.md section 4: the field names
//! are a contract).

use engine::stats::{DropReason, FrameReport, WorkerTotals};
use serde_json::{json, Map, Value};

/// Where a worker's frames were at exit, and how many are in none of those places.
pub fn frame_report_json(report: &FrameReport) -> Value {
    json!({
        "total": report.total, "free": report.free, "rx_lent": report.rx_lent,
        "tx_pending": report.tx_pending, "lost": report.lost(),
    })
}

/// The busy-poll accounting: time in polls that found work, frames per such poll, and ns of
/// real work per frame (a busy-polling worker's core is 100 % busy whatever the rate, so its
/// CPU time says nothing; this does).
pub fn busy_json(totals: &WorkerTotals) -> Value {
    let per = |a: u64, b: u64| if b > 0 { json!(a as f64 / b as f64) } else { Value::Null };
    json!({
        "polls": totals.polls, "busy_polls": totals.busy_polls, "busy_frames": totals.busy_frames,
        "busy_ns": totals.busy_ns,
        "frames_per_busy_poll": per(totals.busy_frames, totals.busy_polls),
        "ns_per_frame": per(totals.busy_ns, totals.busy_frames),
    })
}

/// One field per drop reason, by its name.
pub fn drops_json(drops: &[u64; DropReason::COUNT]) -> Value {
    let mut map = Map::new();
    for reason in DropReason::all() {
        map.insert(reason.name(), json!(drops[reason.index()]));
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::stats::{Snapshot, WorkerStats};
    use std::sync::Arc;

    #[test]
    fn drops_are_named() {
        let worker = Arc::new(WorkerStats::new(Some(0), vec![0]));
        worker.count_drop(DropReason::TxFull, 1);
        let snap = Snapshot::take(&[worker], 1);
        assert_eq!(drops_json(&snap.drops)["tx_full"], 1);
    }

    #[test]
    fn busy_accounting_divides_only_what_it_has() {
        let totals = WorkerTotals { busy_polls: 4, busy_frames: 256, busy_ns: 2560, ..Default::default() };
        let json = busy_json(&totals);
        assert_eq!(json["frames_per_busy_poll"], 64.0);
        assert_eq!(json["ns_per_frame"], 10.0);
        assert!(busy_json(&WorkerTotals::default())["ns_per_frame"].is_null());
    }
}
