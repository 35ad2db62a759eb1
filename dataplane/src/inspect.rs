//! `dataplane inspect`: the layers and per-layer checksum statuses of every packet of a
//! capture, as the pipeline sees them.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use pmd::capture::{CaptureReader, LinkType};

use wire::checks::{verdicts, CsumLayer, Verdicts};
use wire::{walk_from_into, walk_into, FrameStart, Offsets, WalkConfig, WalkError};

use crate::error::CliError;

/// What `inspect` finds in one frame.
pub struct Report {
    /// Where each layer is.
    pub offsets: Offsets,
    /// The status of each checksum the walk reached.
    pub verdicts: Verdicts,
    /// Why the walk stopped before the frame's end, if it did.
    pub error: Option<WalkError>,
}

/// Walks one Ethernet frame and checks every checksum the walk reached. A frame that cannot
/// be parsed to its end still gets statuses for the layers before the error.
pub fn inspect_frame(frame: &[u8], config: &WalkConfig) -> Report {
    let mut offsets = Offsets::default();
    let error = walk_into(frame, config, &mut offsets).err();
    let verdicts = verdicts(frame, &offsets);
    Report { offsets, verdicts, error }
}

/// [`inspect_frame`] for a frame of any link type the capture reader reads.
pub fn inspect_frame_from(frame: &[u8], start: FrameStart, config: &WalkConfig) -> Report {
    let mut offsets = Offsets::default();
    let error = walk_from_into(frame, start, config, &mut offsets).err();
    let verdicts = verdicts(frame, &offsets);
    Report { offsets, verdicts, error }
}

/// Where the walker starts for a capture's link type.
pub fn frame_start(link: LinkType) -> FrameStart {
    match link {
        LinkType::Ethernet => FrameStart::Ethernet,
        LinkType::LinuxSll => FrameStart::LinuxSll,
        LinkType::LinuxSll2 => FrameStart::LinuxSll2,
        LinkType::Raw => FrameStart::RawIp,
        LinkType::Ipv4 => FrameStart::Ipv4,
        LinkType::Ipv6 => FrameStart::Ipv6,
    }
}

/// The walker configuration of `inspect`: the data path's, except that an IPv4 total length
/// of 0 is read as the frame's length and flagged (captures of TSO / BIG TCP senders, read
/// so by tshark too).
pub fn inspect_config() -> WalkConfig {
    WalkConfig { ipv4_zero_len_is_frame: true, ..WalkConfig::default() }
}

/// The note `inspect` adds when an IPv4 total length of 0 was read as the frame's length.
pub const NOTE_IPV4_LEN_FROM_FRAME: &str = "ipv4_total_length_0_read_as_frame_length";

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
    let mut object = json!({"index": index, "layers": layers, "csum": Value::Object(csum), "error": error});
    // Added keys, present only when they say something (design.md section 4 lists the rest).
    if report.offsets.ipv4_len_from_frame {
        object["notes"] = json!([NOTE_IPV4_LEN_FROM_FRAME]);
    }
    object
}

/// [`report_json`] for a record of a capture whose link type is not Ethernet: the same, with
/// `"link"` naming the link type.
pub fn report_json_link(index: usize, link: LinkType, report: &Report) -> Value {
    let mut object = report_json(index, report);
    if link != LinkType::Ethernet {
        object["link"] = json!(link.name());
    }
    object
}

/// One line for people: `#3  eth ipv4 udp vxlan eth ipv4 tcp  outer_l4 zero, inner_l4 bad`.
pub fn report_line(index: usize, len: usize, report: &Report) -> String {
    let layers: Vec<&str> = report.offsets.layers.names().collect();
    let statuses: Vec<String> = CsumLayer::ALL
        .iter()
        .filter(|l| report.verdicts.get(**l) != wire::checks::Status::Absent)
        .map(|l| format!("{} {}", l.name(), report.verdicts.get(*l).name()))
        .collect();
    let mut line = format!("#{index:<5} {len:>5} B  {:<40}  {}", layers.join(" "), statuses.join(", "));
    if report.offsets.ipv4_len_from_frame {
        line.push_str("  (IPv4 total length 0: read as the frame's length, as for TSO / BIG TCP)");
    }
    if let Some(err) = &report.error {
        line.push_str(&format!("  MALFORMED: {err}"));
    }
    line
}

/// Prints every record of the capture at `path`, read one at a time (a capture of any size
/// runs in constant memory). A record that cannot be read is reported on stderr with its
/// index, and the file goes on where it can; then the command fails, saying how many records
/// were unreadable, after printing everything readable. Every line about the file starts
/// with its path (`PATH: record N: ...`).
pub fn inspect_file(path: &Path, json_lines: bool, out: &mut impl Write) -> Result<(), CliError> {
    // The reader's messages start with the file's name.
    let mut reader = CaptureReader::open(path).map_err(|e| CliError::File(e.to_string()))?;
    let config = inspect_config();
    let (mut unreadable, mut records) = (0usize, 0usize);
    while let Some(record) = reader.next_record() {
        records += 1;
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                unreadable += 1;
                eprintln!("{err}");
                continue;
            }
        };
        let report = inspect_frame_from(record.data, frame_start(record.link), &config);
        let written = if json_lines {
            writeln!(out, "{}", report_json_link(record.index, record.link, &report))
        } else {
            let mut line = report_line(record.index, record.data.len(), &report);
            if record.link != LinkType::Ethernet {
                line.push_str(&format!("  [{}]", record.link.name()));
            }
            writeln!(out, "{line}")
        };
        match written {
            Ok(()) => {}
            // `inspect ... | head`: the reader has seen enough.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(CliError::Other(format!("writing output: {e}"))),
        }
    }
    if unreadable > 0 {
        return Err(CliError::File(format!(
            "{}: {unreadable} of {records} records could not be read (said above); the others are printed",
            path.display()
        )));
    }
    Ok(())
}
