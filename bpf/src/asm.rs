//! A tiny assembler: instructions plus named labels, so jumps (forward ones especially)
//! are written as `asm.jmp_imm(Jmp::Eq, Reg::R0, 0, "out")` instead of hand-counted
//! offsets that break whenever an instruction is added.

use std::collections::HashMap;
use std::fmt;

use crate::insn::{Insn, Jmp, Reg};

/// Why [`Asm::finish`] could not produce a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AsmError {
    /// A jump names a label that was never placed.
    UnknownLabel {
        /// The label.
        label: String,
        /// The index of the jump.
        at: usize,
    },
    /// The same label was placed twice (at both indices).
    DuplicateLabel {
        /// The label.
        label: String,
        /// Where it was placed first.
        first: usize,
        /// Where it was placed again.
        second: usize,
    },
    /// The jump distance does not fit the 16-bit offset field.
    OffsetOverflow {
        /// The label jumped to.
        label: String,
        /// The index of the jump.
        from: usize,
        /// The index of the label.
        to: usize,
    },
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsmError::UnknownLabel { label, at } => {
                write!(f, "instruction {at} jumps to label `{label}`, which is never placed (call Asm::label)")
            }
            AsmError::DuplicateLabel { label, first, second } => write!(
                f,
                "label `{label}` is placed twice (before instructions {first} and {second}); \
                 labels must be unique"
            ),
            AsmError::OffsetOverflow { label, from, to } => write!(
                f,
                "jump from instruction {from} to label `{label}` at {to} is farther than the \
                 +/-32767 instructions a jump offset can hold"
            ),
        }
    }
}

impl std::error::Error for AsmError {}

/// Builds a program instruction by instruction; jumps refer to labels resolved by
/// [`Asm::finish`]. A label names the index of the next instruction pushed after it.
#[derive(Debug, Default)]
pub struct Asm {
    insns: Vec<Insn>,
    labels: HashMap<String, usize>,
    /// (index of a jump instruction, label it targets)
    pending: Vec<(usize, String)>,
    /// Kept until `finish` so the builder methods stay chainable and infallible.
    duplicates: Vec<AsmError>,
}

impl Asm {
    /// An empty program.
    pub fn new() -> Asm {
        Asm::default()
    }

    /// Number of instruction slots so far (a `ld_imm64` counts two).
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// No instruction pushed yet.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// Appends one instruction. A jump pushed here keeps its numeric offset.
    pub fn push(&mut self, insn: Insn) -> &mut Asm {
        self.insns.push(insn);
        self
    }

    /// Appends a two-slot instruction (`Insn::ld_imm64`, `Insn::ld_map_fd`).
    pub fn push2(&mut self, pair: [Insn; 2]) -> &mut Asm {
        self.insns.extend_from_slice(&pair);
        self
    }

    /// Appends already-resolved instructions (their jumps are relative, so they stay valid).
    pub fn extend(&mut self, insns: &[Insn]) -> &mut Asm {
        self.insns.extend_from_slice(insns);
        self
    }

    /// Places `name` at the next instruction.
    pub fn label(&mut self, name: &str) -> &mut Asm {
        let here = self.insns.len();
        if let Some(&first) = self.labels.get(name) {
            self.duplicates.push(AsmError::DuplicateLabel { label: name.to_owned(), first, second: here });
        } else {
            self.labels.insert(name.to_owned(), here);
        }
        self
    }

    /// True once `name` has been placed.
    pub fn has_label(&self, name: &str) -> bool {
        self.labels.contains_key(name)
    }

    fn jump_to(&mut self, insn: Insn, label: &str) -> &mut Asm {
        self.pending.push((self.insns.len(), label.to_owned()));
        self.push(insn)
    }

    /// `if dst CMP imm goto label` (64-bit compare).
    pub fn jmp_imm(&mut self, cmp: Jmp, dst: Reg, imm: i32, label: &str) -> &mut Asm {
        self.jump_to(Insn::jmp_imm(cmp, dst, imm, 0), label)
    }

    /// `if dst CMP src goto label` (64-bit compare).
    pub fn jmp_reg(&mut self, cmp: Jmp, dst: Reg, src: Reg, label: &str) -> &mut Asm {
        self.jump_to(Insn::jmp_reg(cmp, dst, src, 0), label)
    }

    /// `if (u32)dst CMP imm goto label`.
    pub fn jmp32_imm(&mut self, cmp: Jmp, dst: Reg, imm: i32, label: &str) -> &mut Asm {
        self.jump_to(Insn::jmp32_imm(cmp, dst, imm, 0), label)
    }

    /// `if (u32)dst CMP (u32)src goto label`.
    pub fn jmp32_reg(&mut self, cmp: Jmp, dst: Reg, src: Reg, label: &str) -> &mut Asm {
        self.jump_to(Insn::jmp32_reg(cmp, dst, src, 0), label)
    }

    /// `goto label`.
    pub fn ja(&mut self, label: &str) -> &mut Asm {
        self.jump_to(Insn::ja(0), label)
    }

    /// Resolves every labelled jump and returns the program.
    pub fn finish(self) -> Result<Vec<Insn>, AsmError> {
        let Asm { mut insns, labels, pending, duplicates } = self;
        if let Some(duplicate) = duplicates.into_iter().next() {
            return Err(duplicate);
        }
        for (at, label) in pending {
            let Some(&target) = labels.get(&label) else {
                return Err(AsmError::UnknownLabel { label, at });
            };
            debug_assert!(insns[at].is_jump());
            // Offsets count from the instruction after the jump.
            let distance = target as i64 - (at as i64 + 1);
            insns[at].off =
                i16::try_from(distance).map_err(|_| AsmError::OffsetOverflow { label, from: at, to: target })?;
        }
        Ok(insns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_backward_labels_resolve() {
        let mut asm = Asm::new();
        asm.label("top")
            .push(Insn::mov64_imm(Reg::R0, 0))
            .jmp_imm(Jmp::Eq, Reg::R0, 0, "out")
            .push(Insn::mov64_imm(Reg::R0, 1))
            .jmp_reg(Jmp::Ne, Reg::R0, Reg::R1, "top")
            .label("out")
            .push(Insn::exit());
        let insns = asm.finish().unwrap();
        assert_eq!(insns[1], Insn::jmp_imm(Jmp::Eq, Reg::R0, 0, 2));
        assert_eq!(insns[3], Insn::jmp_reg(Jmp::Ne, Reg::R0, Reg::R1, -4));
    }

    #[test]
    fn wide_instructions_count_two_slots() {
        let mut asm = Asm::new();
        asm.ja("after").push2(Insn::ld_imm64(Reg::R1, u64::MAX)).label("after").push(Insn::exit());
        let insns = asm.finish().unwrap();
        assert_eq!(insns[0], Insn::ja(2));
    }

    #[test]
    fn jump_to_next_instruction_has_offset_zero() {
        let mut asm = Asm::new();
        asm.jmp32_imm(Jmp::Gt, Reg::R2, 3, "next").label("next").push(Insn::exit());
        assert_eq!(asm.finish().unwrap()[0].off, 0);
    }

    #[test]
    fn unknown_label_is_reported() {
        let mut asm = Asm::new();
        asm.push(Insn::mov64_imm(Reg::R0, 0)).ja("nowhere");
        assert_eq!(asm.finish(), Err(AsmError::UnknownLabel { label: "nowhere".into(), at: 1 }));
    }

    #[test]
    fn duplicate_label_is_reported() {
        let mut asm = Asm::new();
        asm.label("x").push(Insn::exit()).label("x").push(Insn::exit());
        let err = asm.finish().unwrap_err();
        assert_eq!(err, AsmError::DuplicateLabel { label: "x".into(), first: 0, second: 1 });
        assert!(err.to_string().contains("placed twice"));
    }

    #[test]
    fn offset_overflow_is_reported() {
        let mut asm = Asm::new();
        asm.ja("far");
        for _ in 0..40_000 {
            asm.push(Insn::mov64_imm(Reg::R0, 0));
        }
        asm.label("far").push(Insn::exit());
        assert_eq!(asm.finish(), Err(AsmError::OffsetOverflow { label: "far".into(), from: 0, to: 40_001 }));
    }
}
