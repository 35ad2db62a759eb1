//! `dataplane inspect`: the layers and per-layer checksum statuses of every packet of a
//! capture, as the pipeline sees them.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use crate::pipeline::checks::{verdicts, CsumLayer, Verdicts};
use crate::wire::{walk_into, Offsets, WalkConfig, WalkError};

/// What `inspect` finds in one frame.
pub struct Report {
    pub offsets: Offsets,
    pub verdicts: Verdicts,
    pub error: Option<WalkError>,
}

/// Walks one frame and checks every checksum the walk reached. A frame that cannot be parsed
/// to its end still gets statuses for the layers before the error.
pub fn inspect_frame(frame: &[u8], config: &WalkConfig) -> Report {
    let mut offsets = Offsets::default();
    let error = walk_into(frame, config, &mut offsets).err();
    let verdicts = verdicts(frame, &offsets);
    Report { offsets, verdicts, error }
}

/// The JSON contract: `{"index":0,"layers":[...],"csum":{...},"error":null}`.
pub fn report_json(index: usize, report: &Report) -> Value {
    let mut csum = serde_json::Map::new();
    for layer in CsumLayer::ALL {
        csum.insert(layer.name().to_string(), json!(report.verdicts.get(layer).name()));
    }
    let error = match &report.error {
        None => Value::Null,
        Some(err) => json!({"kind": err.kind.name(), "layer": err.layer.name(), "offset": err.offset}),
    };
    let layers: Vec<&str> = report.offsets.layers.names().collect();
    json!({"index": index, "layers": layers, "csum": Value::Object(csum), "error": error})
}

/// One line for people: `#3  eth ipv4 udp vxlan eth ipv4 tcp  outer_l4 zero, inner_l4 bad`.
pub fn report_line(index: usize, len: usize, report: &Report) -> String {
    let layers: Vec<&str> = report.offsets.layers.names().collect();
    let statuses: Vec<String> = CsumLayer::ALL
        .iter()
        .filter(|l| report.verdicts.get(**l) != crate::pipeline::Status::Absent)
        .map(|l| format!("{} {}", l.name(), report.verdicts.get(*l).name()))
        .collect();
    let mut line = format!("#{index:<5} {len:>5} B  {:<40}  {}", layers.join(" "), statuses.join(", "));
    if let Some(err) = &report.error {
        line.push_str(&format!("  MALFORMED: {err}"));
    }
    line
}

pub fn inspect_file(path: &Path, json_lines: bool, out: &mut impl Write) -> Result<(), String> {
    let packets = pmd::pcap::read_capture(path).map_err(|e| e.to_string())?;
    let config = WalkConfig::default();
    for (index, packet) in packets.iter().enumerate() {
        let report = inspect_frame(packet, &config);
        let written = if json_lines {
            writeln!(out, "{}", report_json(index, &report))
        } else {
            writeln!(out, "{}", report_line(index, packet.len(), &report))
        };
        match written {
            Ok(()) => {}
            // `inspect ... | head`: the reader has seen enough.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(format!("writing output: {e}")),
        }
    }
    Ok(())
}
