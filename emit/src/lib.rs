//! Emit: one rule set (the `rules` crate's) expressed for the kernel's own classifiers, so
//! the lab can run the same rules through tc and eBPF and compare them with the dataplane.
//!
//! - [`compile_tc`] writes a `tc -b` batch ([`TcBatch`]) of [`u32`](mod@u32) or [`flower`] filters;
//!   [`Tc`] applies it and reads the per-rule hit counters back; [`KernelCaps`] says what the
//!   running kernel has, which decides how actions are spelled and whether a target applies.
//! - [`bpf`] generates eBPF for `tc-bpf`, `tc-bpf-per-rule` and `xdp`, loads, pins and
//!   attaches it, and reads its per-rule counters.
//!
//! Every emitter either reproduces [`rules::Rule::matches`] for a rule or refuses the rule
//! with a [`Refusal`] that says why; it never emits a rule that means something else, except
//! for the limits it states in [`TcBatch::notes`]. Every failure is an [`Error`].
//!
//! # Use
//!
//! Writing a batch needs nothing of the machine (applying it needs root and iproute2):
//!
//! ```
//! use emit::{compile_tc, EmitOptions, KernelCaps, Target};
//!
//! let set = rules::parse("acl.rules", "ip_proto tcp dst_port 22 action drop\n").expect("one rule");
//! let opts = EmitOptions::new("eth0", KernelCaps::everything());
//! let batch = compile_tc(&set, Target::TcFlower, &opts).expect("flower holds the rule");
//! // One prio per address family (a prio holds one protocol), in matching order.
//! assert!(batch.text.contains("filter add dev eth0 ingress prio 1 protocol ip flower ip_proto tcp dst_port 22 action drop"));
//! assert!(batch.text.contains("prio 2 protocol ipv6 flower ip_proto tcp dst_port 22 action drop"));
//! assert_eq!((batch.rule_at_prio(1), batch.rule_at_prio(2)), (Some(0), Some(0)));
//!
//! let set = rules::parse("acl.rules", "ip_proto udp action ttl-dec\n").expect("one rule");
//! let refused = compile_tc(&set, Target::TcU32, &opts).unwrap_err();
//! assert!(refused.to_string().contains("line 1 (rule 0): ttl-dec needs act_pedit"), "{refused}");
//! // Then, as root: emit::Tc::here().apply(&batch.text)?; emit::Tc::here().rule_hits(&batch)?;
//! ```

mod batch;
mod caps;
mod command;
mod error;
mod target;

pub mod bpf;
pub mod flower;
pub mod tc;
pub mod u32;

pub use batch::{EmitOptions, RuleFilters, TcBatch};
pub use caps::KernelCaps;
pub use error::{Error, Refusal};
pub use target::{Target, UnknownTarget};
pub use tc::{compile_tc, Tc};
