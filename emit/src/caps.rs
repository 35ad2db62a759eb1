//! What the kernel that runs a batch can do ([`KernelCaps`]): which classifiers and actions
//! it has decides how rules are spelled, and whether a target can be applied at all.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;

use crate::command::run;
use crate::error::Error;
use crate::target::Target;

/// What the kernel that runs a batch can do. Probed by trying (see [`KernelCaps::running`]):
/// module autoloading and built-in code look the same that way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelCaps {
    /// The clsact qdisc (ingress and egress hooks for filters).
    pub clsact: bool,
    /// The u32 classifier.
    pub cls_u32: bool,
    /// The flower classifier.
    pub cls_flower: bool,
    /// The bpf classifier (cls_bpf).
    pub cls_bpf: bool,
    /// `action drop` / `pass` / `ok`.
    pub act_gact: bool,
    /// `action mirred` (redirect to a device).
    pub act_mirred: bool,
    /// `action police`.
    pub act_police: bool,
    /// `action pedit` (packet rewrites).
    pub act_pedit: bool,
    /// CONFIG_CLS_U32_PERF: u32 keeps per-knode hit counters.
    pub u32_perf: bool,
}

impl KernelCaps {
    /// A kernel with everything (for writing batches meant for another machine, and tests).
    pub const fn everything() -> KernelCaps {
        KernelCaps {
            clsact: true,
            cls_u32: true,
            cls_flower: true,
            cls_bpf: true,
            act_gact: true,
            act_mirred: true,
            act_police: true,
            act_pedit: true,
            u32_perf: true,
        }
    }

    /// The running kernel: clsact, classifiers and actions are tried on `lo` of a network
    /// namespace that exists only for the probe (`unshare --net`), so no device of this
    /// machine is touched. Needs root (CAP_SYS_ADMIN) and `unshare`, `tc`. Probed once per
    /// process once it succeeds (a failed probe is tried again on the next call).
    pub fn running() -> Result<KernelCaps, Error> {
        static CAPS: OnceLock<KernelCaps> = OnceLock::new();
        if let Some(caps) = CAPS.get() {
            return Ok(*caps);
        }
        let caps = probe()?;
        Ok(*CAPS.get_or_init(|| caps))
    }

    /// Whether a batch (or program) for `target` can be applied on this kernel; the error
    /// says what is missing (the CLI prints it, the lab skips the target with it).
    pub fn can_apply(&self, target: Target) -> Result<(), Error> {
        let (ok, missing) = match target {
            Target::TcU32 => (self.clsact && self.cls_u32, "tc u32 (cls_u32) on clsact"),
            Target::TcFlower => (self.clsact && self.cls_flower, "tc flower (cls_flower)"),
            Target::TcBpf | Target::TcBpfPerRule => (self.clsact && self.cls_bpf, "tc bpf (cls_bpf) on clsact"),
            Target::Xdp => (true, "XDP"),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::CannotApply { target, missing })
        }
    }

    /// What is missing, for reports ("no cls_flower, no act_gact, ...").
    pub fn missing(&self) -> Vec<&'static str> {
        let all = [
            (self.clsact, "sch_clsact"),
            (self.cls_u32, "cls_u32"),
            (self.cls_flower, "cls_flower"),
            (self.cls_bpf, "cls_bpf"),
            (self.act_gact, "act_gact"),
            (self.act_mirred, "act_mirred"),
            (self.act_police, "act_police"),
            (self.act_pedit, "act_pedit"),
            (self.u32_perf, "u32 hit counters (CONFIG_CLS_U32_PERF)"),
        ];
        all.into_iter().filter(|(has, _)| !has).map(|(_, name)| name).collect()
    }
}

/// Each probe prints `name=STATUS`; 0 is success. `lo` is down: nothing is ever classified.
const PROBE_SCRIPT: &str = r#"
t() { name=$1; shift; tc "$@" >/dev/null 2>&1; echo "$name=$?"; }
t clsact qdisc add dev lo clsact
t cls_u32 filter add dev lo ingress prio 1 protocol ip u32 match u32 0 0 classid 1:1
t act_mirred filter add dev lo ingress prio 2 protocol ip u32 match u32 0 0 action mirred egress redirect dev lo
t act_gact filter add dev lo ingress prio 3 protocol ip u32 match u32 0 0 action drop
t act_police filter add dev lo ingress prio 4 protocol ip u32 match u32 0 0 action police rate 1mbit burst 10k conform-exceed drop/drop
t act_pedit filter add dev lo ingress prio 5 protocol ip u32 match u32 0 0 action pedit ex munge ip ttl add 255
t cls_flower filter add dev lo ingress prio 6 protocol ip flower ip_proto udp classid 1:1
t cls_bpf filter add dev lo ingress prio 7 protocol all bpf bytecode "1,6 0 0 4294967295," classid 1:1
tc -s filter show dev lo ingress prio 1 2>/dev/null | grep -q "rule hit"; echo "u32_perf=$?"
"#;

fn probe() -> Result<KernelCaps, Error> {
    let out = run(
        Command::new("unshare").args(["--net", "--", "sh", "-c", PROBE_SCRIPT]),
        "unshare --net -- sh -c <the kernel's tc probe>",
        None,
        "probing the kernel's tc support needs root: CAP_SYS_ADMIN, for a network namespace of its own",
    )?;
    parse_probe(&out)
}

fn parse_probe(out: &str) -> Result<KernelCaps, Error> {
    let results: BTreeMap<&str, bool> = out
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(name, status)| (name.trim(), status.trim() == "0"))
        .collect();
    let get = |name: &'static str| results.get(name).copied().ok_or(Error::ProbeAnswer { name });
    Ok(KernelCaps {
        clsact: get("clsact")?,
        cls_u32: get("cls_u32")?,
        cls_flower: get("cls_flower")?,
        cls_bpf: get("cls_bpf")?,
        act_gact: get("act_gact")?,
        act_mirred: get("act_mirred")?,
        act_police: get("act_police")?,
        act_pedit: get("act_pedit")?,
        u32_perf: get("u32_perf")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_output_is_parsed() {
        let out = "clsact=0\ncls_u32=0\nact_mirred=0\nact_gact=2\nact_police=2\nact_pedit=2\ncls_flower=2\ncls_bpf=0\nu32_perf=1\n";
        let caps = parse_probe(out).unwrap();
        assert!(
            caps.cls_u32 && caps.act_mirred && caps.cls_bpf && !caps.act_gact && !caps.cls_flower && !caps.u32_perf
        );
        assert!(caps.can_apply(Target::TcU32).is_ok());
        let err = caps.can_apply(Target::TcFlower).unwrap_err().to_string();
        assert!(err.contains("no tc flower (cls_flower)"), "{err}");
        assert!(matches!(parse_probe("clsact=0\n"), Err(Error::ProbeAnswer { name: "cls_u32" })));
    }
}
