//! The live engine: `BPF_PROG_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES`, every frame made in
//! the kernel by [`super::prog`]'s XDP program.
//!
//! A live-frames call on a program attached nowhere adds it to the kernel's XDP dispatcher
//! and removes it again (two RCU grace periods, ~24 ms per call). So the program stays
//! attached, in generic mode, to an idle `ifb` device made for the purpose in the
//! generator's namespace (this kernel has no dummy driver) and removed when the run ends;
//! then calls go back to back.
//!
//! Sizes: a fixed size is one stream of calls; IMIX is calls of one size each, in the
//! [`IMIX`] order, so 12 calls hold exactly 7:4:1. Pacing is the program's (its clock
//! gate, see [`super::prog`]): user space gives it a budget of frames (the whole run for a
//! fixed size; per IMIX size, [`PACED_CALL_MAX`] frames at most, or `--burst N`) and runs
//! calls until the budget is spent. Unpaced: calls of [`LIVE_CALL`] frames.
//!
//! Offered: frames that left, by gen0's own counters, not frames asked for: those the
//! veth's XDP transmit accepted (`ethtool -S`: `tx_queue_N_xdp_xmit`; refused ones, a full
//! peer ring, are `tx_queue_N_xdp_xmit_errors`), at most the program's per-CPU count of
//! frames it generated. A peer with neither XDP nor GRO drops frames without counting
//! them anywhere; those are not sent either (the probe at the start catches that case).

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bpf::{Link, TestRunOptions, XdpMode};
use pmd::netdev;

use crate::gen::config::{GenConfig, GenReport};
use crate::gen::error::GenError;
use crate::gen::patch::{distinct_sizes, PatchTable};
use crate::gen::plan::FramePlan;
use crate::gen::prog::{LiveProgram, Pace};
use crate::template::{FrameSize, IMIX};

/// Frames per call when unpaced: large enough that the syscall costs nothing per frame,
/// small enough to stop on time.
/// (Measured here: 16384 a little ahead of 4096 and 8192; batch 256 ahead of 64.)
pub const LIVE_CALL: u32 = 16384;
/// Frames the kernel runs between flushes to the device (`batch_size`).
pub const LIVE_BATCH: u32 = 256;
/// Paced calls hold at most this many frames: the receiving veth's ring (VETH_RING_SIZE).
pub const PACED_CALL_MAX: u32 = 256;
/// Paced calls are about this far apart (fewer frames per call at low rates).
const PACED_PERIOD: f64 = 1e-3;
/// Paced: the most test runs in one call (a few ms at the gate's ~40 ns a run).
const PACED_RUNS_MAX: u32 = 1 << 17;

/// An `ifb` device in the generator's namespace, removed when dropped.
pub struct IdleDevice {
    name: String,
    /// Its interface index.
    pub ifindex: u32,
}

impl IdleDevice {
    /// Creates `dpgen<pid>` (with `ip link add NAME type ifb`).
    pub fn create() -> Result<IdleDevice, GenError> {
        let name = format!("dpgen{}", std::process::id());
        Self::create_named(&name)
    }

    /// Creates an `ifb` device named `name`.
    pub fn create_named(name: &str) -> Result<IdleDevice, GenError> {
        let out = Command::new("ip")
            .args(["link", "add", name, "type", "ifb"])
            .output()
            .map_err(|source| GenError::IdleDeviceCommand { name: name.to_string(), source })?;
        if !out.status.success() {
            return Err(GenError::IdleDevice {
                name: name.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        // From here on the guard removes it, also when the lookup fails.
        let mut device = IdleDevice { name: name.to_owned(), ifindex: 0 };
        device.ifindex = netdev::ifindex(name)
            .map_err(|e| GenError::IdleDeviceLookup { name: name.to_string(), source: e.into() })?;
        Ok(device)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for IdleDevice {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.name]).output();
    }
}

/// veth's XDP transmit counters of `iface`, summed over its queues: (accepted, refused).
pub fn xmit_counters(iface: &str) -> Option<(u64, u64)> {
    let out = Command::new("ethtool").args(["-S", iface]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    parse_xmit(&String::from_utf8_lossy(&out.stdout))
}

fn parse_xmit(text: &str) -> Option<(u64, u64)> {
    let (mut ok, mut errors, mut seen) = (0, 0, false);
    for line in text.lines() {
        let Some((name, value)) = line.trim().split_once(':') else { continue };
        let Ok(value) = value.trim().parse::<u64>() else { continue };
        if name.starts_with("tx_queue_") && name.ends_with("_xdp_xmit") {
            ok += value;
            seen = true;
        } else if name.starts_with("tx_queue_") && name.ends_with("_xdp_xmit_errors") {
            errors += value;
        }
    }
    seen.then_some((ok, errors))
}

/// What left: (sent, refused, how it was counted). With the veth's counters, the frames
/// its XDP transmit accepted (`xdp_xmit`; at most `generated`): the ones it refused
/// (`xdp_xmit_errors`, a full peer ring) are not, nor those it drops without counting
/// (a peer with neither XDP nor GRO). Without them, every frame generated.
fn offered(generated: u64, before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> (u64, Option<u64>, &'static str) {
    match (before, after) {
        (Some((ok0, err0)), Some((ok1, err1))) => {
            (ok1.saturating_sub(ok0).min(generated), Some(err1.saturating_sub(err0)), "veth-xdp-xmit")
        }
        _ => (generated, None, "xdp-program-count"),
    }
}

/// The size of call `call`.
fn call_size(sizes: FrameSize, call: u64) -> usize {
    match sizes {
        FrameSize::Fixed(size) => size,
        FrameSize::Imix => IMIX[(call % IMIX.len() as u64) as usize],
    }
}

/// Frames per call: `--burst`, else about a millisecond's worth up to the veth ring when
/// paced, else [`LIVE_CALL`].
pub fn call_frames(rate: Option<f64>, burst: Option<u32>) -> u32 {
    match (rate, burst) {
        (Some(_), Some(burst)) => burst.max(1),
        (Some(rate), None) => ((rate * PACED_PERIOD) as u32).clamp(1, PACED_CALL_MAX),
        (None, _) => LIVE_CALL,
    }
}

/// One live-frames call: `repeat` runs of `program` on `frame`, as if it arrived on
/// `ifindex` queue `queue` (XDP_TX then sends each copy out of that interface).
fn live_run(
    program: &bpf::Program,
    frame: &[u8],
    ifindex: u32,
    queue: u32,
    repeat: u32,
    iface: &str,
) -> Result<(), GenError> {
    let context = bpf::xdp::XdpMd::for_frame(frame.len(), ifindex, queue).to_bytes();
    let options = TestRunOptions {
        repeat,
        flags: TestRunOptions::XDP_LIVE_FRAMES,
        ctx_in: Some(&context),
        batch_size: LIVE_BATCH.min(repeat),
        ..Default::default()
    };
    program
        .test_run_with(frame, &options)
        .map(drop)
        .map_err(|source| GenError::LiveRun { iface: iface.to_string(), source })
}

/// Sends `plan` out of `iface` with live frames, until the count, the duration or `stop`.
pub fn send_live(
    config: &GenConfig,
    plan: &FramePlan,
    iface: &str,
    ifindex: u32,
    stop: &AtomicBool,
) -> Result<GenReport, GenError> {
    let table = PatchTable::build(plan)?;
    let live = LiveProgram::load(table, plan.stream())?;
    // Declared before the link, so dropped after it.
    let idle = IdleDevice::create()?;
    let _link = Link::attach_xdp(&live.program, idle.ifindex, XdpMode::Generic)?;
    let xmit_before = xmit_counters(iface);

    if distinct_sizes(plan.sizes).iter().any(|&s| live.table().slice_of(s).is_none()) {
        return Err(GenError::MissingSize);
    }
    let mut bytes = 0u64;
    let mut run = |call: u64, count: u32| -> Result<(), GenError> {
        let size = call_size(plan.sizes, call);
        let slice = live.table().slice_of(size).expect("a slice for every size");
        live.begin_call(slice)?;
        let base = &live.table().slices[slice].base;
        live_run(&live.program, base, ifindex, config.queue, count, iface)?;
        bytes += u64::from(count) * base.len() as u64;
        Ok(())
    };

    // A redirect into a veth whose peer has neither an XDP program nor GRO fails silently
    // (the call still succeeds). Frames the peer did take show up in this end's tx_packets
    // once the peer's NAPI has run, so probe with a few frames and look.
    let limit = config.count.unwrap_or(u64::MAX);
    if limit == 0 {
        // A call with repeat 0 would still send one frame.
        return Ok(GenReport {
            sent: 0,
            bytes: 0,
            bad_csum: 0,
            seconds: 0.0,
            generated: Some(0),
            xmit_errors: Some(0),
            offered_src: "veth-xdp-xmit",
            stream: Some(plan.stream()),
        });
    }
    let per_call = call_frames(config.rate, config.burst);
    let probe = limit.min(64).min(u64::from(per_call)) as u32;
    let sent_before = netdev::tx_packets(iface).unwrap_or(0);
    run(0, probe)?;
    let probe_start = Instant::now();
    while netdev::tx_packets(iface).unwrap_or(0) == sent_before {
        if probe_start.elapsed() > Duration::from_millis(200) {
            return Err(GenError::PeerTakesNothing { iface: iface.to_string(), probe });
        }
        std::thread::sleep(Duration::from_millis(5));
    }

    let mut asked = u64::from(probe);
    // The probe was call 0 (of the first size); IMIX goes on with the next size.
    let mut call = 1u64;
    let start = Instant::now();
    match config.rate {
        None => {
            while asked < limit && !stop.load(Ordering::Relaxed) {
                if config.duration.is_some_and(|d| start.elapsed() >= d) {
                    break;
                }
                let count = (limit - asked).min(u64::from(per_call)) as u32;
                run(call, count)?;
                call += 1;
                asked += u64::from(count);
            }
        }
        Some(rate) => {
            // The program paces (its gate, see super::prog): user space only hands it a
            // budget of frames per size and runs calls until the budget is spent.
            let burst = config.burst.unwrap_or(1);
            let pace = Pace::new(rate, burst);
            // Fixed sizes: one budget for the whole run; IMIX: one per call of one size.
            let per_slice =
                if plan.sizes == FrameSize::Imix { u64::from(per_call) } else { limit.saturating_sub(asked) };
            // Test runs per frame sent, learnt as the run goes: sizes each call so it ends
            // about when its budget does.
            let mut runs_per_frame = (15e6 / rate).max(1.0);
            let deadline = config.duration.map(|d| start + d);
            'slices: while asked < limit && !stop.load(Ordering::Relaxed) {
                let size = call_size(plan.sizes, call);
                let slice = live.table().slice_of(size).expect("a slice for every size");
                let base = &live.table().slices[slice].base;
                let want = per_slice.min(limit - asked);
                live.begin_call_paced(slice, Some(pace))?;
                live.set_budget(want)?;
                let mut spent = 0;
                while spent < want {
                    if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
                        let went = live.budget_spent(want)?.min(want);
                        asked += went;
                        bytes += went * base.len() as u64;
                        break 'slices;
                    }
                    let left = want - spent;
                    let runs = (left as f64 * runs_per_frame * 1.05).clamp(64.0, f64::from(PACED_RUNS_MAX)) as u32;
                    live_run(&live.program, base, ifindex, config.queue, runs, iface)?;
                    let now_spent = live.budget_spent(want)?;
                    let went = now_spent.saturating_sub(spent);
                    if went > 0 {
                        runs_per_frame = 0.7 * runs_per_frame + 0.3 * (f64::from(runs) / went as f64);
                    }
                    spent = now_spent;
                }
                asked += want;
                bytes += want * base.len() as u64;
                call += 1;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();

    let states = live.states()?;
    let generated: u64 = states.iter().map(|s| s.generated).sum();
    let (sent, xmit_errors, offered_src) = offered(generated, xmit_before, xmit_counters(iface));
    // The busiest CPU's stream (the generator's, when pinned).
    let cpu = states.iter().enumerate().max_by_key(|(_, s)| s.generated).map_or(0, |(cpu, _)| cpu);
    let stream = plan.stream().wrapping_add(cpu as u16);
    let bytes = if asked > 0 { (bytes as f64 * sent as f64 / asked as f64).round() as u64 } else { 0 };
    Ok(GenReport {
        sent,
        bytes,
        bad_csum: plan.bad_in_first(sent),
        seconds,
        generated: Some(generated),
        xmit_errors,
        offered_src,
        stream: Some(stream),
    })
}

/// The reference for the live engine's benchmark (a bench helper, not a product path,
/// `gen --engine live-reference`): the bare loop, one 60-byte frame, a 2-instruction
/// XDP_TX program kept attached to an idle ifb, calls of [`LIVE_CALL`], nothing else.
pub fn send_reference(config: &GenConfig, iface: &str, ifindex: u32, stop: &AtomicBool) -> Result<GenReport, GenError> {
    use bpf::{Insn, ProgType, Program, Reg};
    let program = Program::load(ProgType::Xdp, "gen_xdp_tx", &[Insn::mov64_imm(Reg::R0, bpf::xdp::TX), Insn::exit()])?;
    let idle = IdleDevice::create()?;
    let _link = Link::attach_xdp(&program, idle.ifindex, XdpMode::Generic)?;
    let mut frame = vec![0u8; crate::template::MAX_FRAME];
    let len = config.template.build_into(&mut frame, 60, None, None)?;
    frame.truncate(len);
    let limit = config.count.unwrap_or(u64::MAX);
    let xmit_before = xmit_counters(iface);
    let (mut asked, start) = (0u64, Instant::now());
    while asked < limit && !stop.load(Ordering::Relaxed) && config.duration.is_none_or(|d| start.elapsed() < d) {
        let count = (limit - asked).min(u64::from(LIVE_CALL)) as u32;
        live_run(&program, &frame, ifindex, config.queue, count, iface)?;
        asked += u64::from(count);
    }
    let seconds = start.elapsed().as_secs_f64();
    let (sent, xmit_errors, offered_src) = offered(asked, xmit_before, xmit_counters(iface));
    Ok(GenReport {
        sent,
        bytes: sent * frame.len() as u64,
        bad_csum: 0,
        seconds,
        generated: Some(asked),
        xmit_errors,
        offered_src,
        stream: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_xmit_counters_are_summed_over_queues() {
        let text = "NIC statistics:\n     peer_ifindex: 2\n     rx_queue_0_xdp_tx: 5\n     \
                    tx_queue_0_xdp_xmit: 10\n     tx_queue_0_xdp_xmit_errors: 1\n     tx_queue_1_xdp_xmit: 4\n     \
                    tx_queue_1_xdp_xmit_errors: 2\n";
        assert_eq!(parse_xmit(text), Some((14, 3)));
        assert_eq!(parse_xmit("NIC statistics:\n     rx_packets: 3\n"), None);
    }

    #[test]
    fn sent_is_what_the_veth_accepted() {
        assert_eq!(offered(100, Some((5, 1)), Some((95, 11))), (90, Some(10), "veth-xdp-xmit"));
        // Dropped uncounted (a peer without XDP or GRO): not sent either.
        assert_eq!(offered(100, Some((0, 0)), Some((40, 0))), (40, Some(0), "veth-xdp-xmit"));
        assert_eq!(offered(100, None, Some((40, 0))), (100, None, "xdp-program-count"));
    }

    #[test]
    fn calls_stay_within_the_ring_when_paced() {
        assert_eq!(call_frames(Some(10_000.0), None), 10);
        assert_eq!(call_frames(Some(100.0), None), 1);
        assert_eq!(call_frames(Some(1e6), None), PACED_CALL_MAX);
        assert_eq!(call_frames(Some(1e6), Some(1000)), 1000);
        assert_eq!(call_frames(None, None), LIVE_CALL);
    }

    #[test]
    fn imix_calls_hold_the_exact_mix() {
        let sizes: Vec<usize> = (0..12).map(|c| call_size(FrameSize::Imix, c)).collect();
        for (size, n) in [(60, 7), (590, 4), (1514, 1)] {
            assert_eq!(sizes.iter().filter(|&&s| s == size).count(), n);
        }
    }
}
