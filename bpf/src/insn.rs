//! eBPF instructions: the 8-byte `struct bpf_insn` and constructors for the
//! instructions a hand-written XDP or tc program needs.
//!
//! The encoding follows the kernel's `Documentation/bpf/standardization/instruction-set.rst`:
//! an 8-bit opcode (class | size/source | operation), the destination register in the low
//! nibble of the second byte and the source register in the high nibble, a signed 16-bit
//! offset and a signed 32-bit immediate. Everything is in host byte order, as the kernel
//! reads it.

use std::fmt;
use std::os::fd::RawFd;

/// One eBPF instruction, laid out exactly as the kernel's `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Opcode: class | size or source | operation.
    pub code: u8,
    /// Destination and source registers, one nibble each (see [`Insn::dst`], [`Insn::src`]).
    pub regs: u8,
    /// Signed offset: a memory displacement or a jump distance in instructions.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

// The kernel takes an array of these; a size mismatch would silently garble programs.
const _: () = assert!(std::mem::size_of::<Insn>() == 8);

/// The eleven eBPF registers. `R0` holds return values, `R1`-`R5` are arguments and are
/// clobbered by calls, `R6`-`R9` survive calls, `R10` is the read-only frame pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reg {
    /// Return value of helper calls and of the program.
    R0,
    /// First argument; the program's context on entry.
    R1,
    /// Second argument.
    R2,
    /// Third argument.
    R3,
    /// Fourth argument.
    R4,
    /// Fifth argument.
    R5,
    /// Callee-saved.
    R6,
    /// Callee-saved.
    R7,
    /// Callee-saved.
    R8,
    /// Callee-saved.
    R9,
    /// Read-only frame pointer: the stack is the 512 bytes below it.
    R10,
}

impl Reg {
    /// The register number, 0-10.
    pub const fn number(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.number())
    }
}

/// Width of a memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// 1 byte.
    B,
    /// 2 bytes (half word).
    H,
    /// 4 bytes (word).
    W,
    /// 8 bytes (double word).
    DW,
}

impl Size {
    const fn bits(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::DW => 0x18,
        }
    }

    /// Width in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }
}

/// Arithmetic and logic operations (the high nibble of an ALU opcode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alu {
    /// `dst += src`
    Add,
    /// `dst -= src`
    Sub,
    /// `dst *= src`
    Mul,
    /// `dst /= src` (unsigned; division by zero gives 0)
    Div,
    /// `dst |= src`
    Or,
    /// `dst &= src`
    And,
    /// `dst <<= src`
    Lsh,
    /// `dst >>= src` (logical)
    Rsh,
    /// `dst %= src` (unsigned; modulo zero leaves `dst`)
    Mod,
    /// `dst ^= src`
    Xor,
    /// `dst = src`
    Mov,
    /// Arithmetic (sign-extending) right shift.
    Arsh,
}

impl Alu {
    const fn bits(self) -> u8 {
        match self {
            Alu::Add => 0x00,
            Alu::Sub => 0x10,
            Alu::Mul => 0x20,
            Alu::Div => 0x30,
            Alu::Or => 0x40,
            Alu::And => 0x50,
            Alu::Lsh => 0x60,
            Alu::Rsh => 0x70,
            Alu::Mod => 0x90,
            Alu::Xor => 0xa0,
            Alu::Mov => 0xb0,
            Alu::Arsh => 0xc0,
        }
    }
}

/// Conditional jump comparisons. Plain names compare unsigned; `S*` compare signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jmp {
    /// `dst == src`
    Eq,
    /// `dst != src`
    Ne,
    /// `dst > src`, unsigned
    Gt,
    /// `dst >= src`, unsigned
    Ge,
    /// `dst < src`, unsigned
    Lt,
    /// `dst <= src`, unsigned
    Le,
    /// Jump if `dst & src != 0`.
    Set,
    /// `dst > src`, signed
    Sgt,
    /// `dst >= src`, signed
    Sge,
    /// `dst < src`, signed
    Slt,
    /// `dst <= src`, signed
    Sle,
}

impl Jmp {
    const fn bits(self) -> u8 {
        match self {
            Jmp::Eq => 0x10,
            Jmp::Gt => 0x20,
            Jmp::Ge => 0x30,
            Jmp::Set => 0x40,
            Jmp::Ne => 0x50,
            Jmp::Sgt => 0x60,
            Jmp::Sge => 0x70,
            Jmp::Lt => 0xa0,
            Jmp::Le => 0xb0,
            Jmp::Slt => 0xc0,
            Jmp::Sle => 0xd0,
        }
    }
}

/// Raw opcode pieces, for readers cross-checking against the kernel's `bpf_common.h` and
/// `bpf.h`, and for building instructions this module has no constructor for.
pub mod op {
    /// `BPF_LD`: loads of immediates (the 16-byte `ld_imm64`).
    pub const CLASS_LD: u8 = 0x00;
    /// `BPF_LDX`: loads from memory into a register.
    pub const CLASS_LDX: u8 = 0x01;
    /// `BPF_ST`: stores of an immediate.
    pub const CLASS_ST: u8 = 0x02;
    /// `BPF_STX`: stores of a register (and atomics).
    pub const CLASS_STX: u8 = 0x03;
    /// `BPF_ALU`: 32-bit arithmetic.
    pub const CLASS_ALU: u8 = 0x04;
    /// `BPF_JMP`: 64-bit jumps, calls and exit.
    pub const CLASS_JMP: u8 = 0x05;
    /// `BPF_JMP32`: jumps comparing the low 32 bits.
    pub const CLASS_JMP32: u8 = 0x06;
    /// `BPF_ALU64`: 64-bit arithmetic.
    pub const CLASS_ALU64: u8 = 0x07;

    /// `BPF_IMM`: the operand is an immediate (with `CLASS_LD`: `ld_imm64`).
    pub const MODE_IMM: u8 = 0x00;
    /// `BPF_MEM`: a memory access at register + offset.
    pub const MODE_MEM: u8 = 0x60;
    /// `BPF_ATOMIC`: an atomic read-modify-write (the operation is in the immediate).
    pub const MODE_ATOMIC: u8 = 0xc0;

    /// Operand is the immediate.
    pub const SRC_K: u8 = 0x00;
    /// Operand is the source register.
    pub const SRC_X: u8 = 0x08;

    /// `BPF_NEG`: `dst = -dst`.
    pub const ALU_NEG: u8 = 0x80;
    /// `BPF_END`: byte swap to the order `END_TO_*` says, width in the immediate.
    pub const ALU_END: u8 = 0xd0;
    /// With `ALU_END`: convert to little endian (`SRC_K` position).
    pub const END_TO_LE: u8 = 0x00;
    /// With `ALU_END`: convert to big endian (`SRC_X` position).
    pub const END_TO_BE: u8 = 0x08;

    /// `BPF_JA`: jump always.
    pub const JMP_JA: u8 = 0x00;
    /// `BPF_CALL`: call the helper numbered in the immediate.
    pub const JMP_CALL: u8 = 0x80;
    /// `BPF_EXIT`: return R0.
    pub const JMP_EXIT: u8 = 0x90;

    /// Atomic operation codes go in the immediate of a `STX | ATOMIC` instruction.
    pub const ATOMIC_ADD: i32 = 0x00;

    /// `src_reg` of a `ld_imm64` whose immediate is a map file descriptor.
    pub const PSEUDO_MAP_FD: u8 = 1;

    /// `src_reg` of a call whose immediate is the BTF id of a kernel function (a kfunc)
    /// rather than a helper number (`BPF_PSEUDO_KFUNC_CALL`).
    pub const PSEUDO_KFUNC_CALL: u8 = 2;
}

use op::*;

/// Packs two register numbers the way the kernel's `dst_reg:4, src_reg:4` bitfield lays
/// them out, which depends on the host's bit-field order.
const fn pack_regs(dst: Reg, src: Reg) -> u8 {
    if cfg!(target_endian = "little") {
        dst.number() | (src.number() << 4)
    } else {
        (dst.number() << 4) | src.number()
    }
}

macro_rules! alu_shorthands {
    ($($op:ident => $imm64:ident, $reg64:ident, $imm32:ident, $reg32:ident;)*) => {
        $(
            #[doc = concat!("64-bit `dst ", stringify!($op), "= imm` (imm sign-extended).")]
            pub const fn $imm64(dst: Reg, imm: i32) -> Insn {
                Insn::alu64_imm(Alu::$op, dst, imm)
            }
            #[doc = concat!("64-bit `dst ", stringify!($op), "= src`.")]
            pub const fn $reg64(dst: Reg, src: Reg) -> Insn {
                Insn::alu64_reg(Alu::$op, dst, src)
            }
            #[doc = concat!("32-bit `dst ", stringify!($op), "= imm`; the upper half of dst becomes 0.")]
            pub const fn $imm32(dst: Reg, imm: i32) -> Insn {
                Insn::alu32_imm(Alu::$op, dst, imm)
            }
            #[doc = concat!("32-bit `dst ", stringify!($op), "= src`; the upper half of dst becomes 0.")]
            pub const fn $reg32(dst: Reg, src: Reg) -> Insn {
                Insn::alu32_reg(Alu::$op, dst, src)
            }
        )*
    };
}

impl Insn {
    /// An instruction from its raw parts.
    pub const fn new(code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> Insn {
        Insn { code, regs: pack_regs(dst, src), off, imm }
    }

    /// The destination register number.
    pub const fn dst(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs & 0x0f
        } else {
            self.regs >> 4
        }
    }

    /// The source register number.
    pub const fn src(&self) -> u8 {
        if cfg!(target_endian = "little") {
            self.regs >> 4
        } else {
            self.regs & 0x0f
        }
    }

    /// The 8 bytes the kernel reads for this instruction (host byte order).
    pub const fn to_bytes(&self) -> [u8; 8] {
        let off = self.off.to_ne_bytes();
        let imm = self.imm.to_ne_bytes();
        [self.code, self.regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3]]
    }

    // ---- ALU ----

    /// 64-bit `dst = dst OP imm`.
    pub const fn alu64_imm(op: Alu, dst: Reg, imm: i32) -> Insn {
        Insn::new(CLASS_ALU64 | SRC_K | op.bits(), dst, Reg::R0, 0, imm)
    }

    /// 64-bit `dst = dst OP src`.
    pub const fn alu64_reg(op: Alu, dst: Reg, src: Reg) -> Insn {
        Insn::new(CLASS_ALU64 | SRC_X | op.bits(), dst, src, 0, 0)
    }

    /// 32-bit `dst = dst OP imm`; the result is zero-extended to 64 bits.
    pub const fn alu32_imm(op: Alu, dst: Reg, imm: i32) -> Insn {
        Insn::new(CLASS_ALU | SRC_K | op.bits(), dst, Reg::R0, 0, imm)
    }

    /// 32-bit `dst = dst OP src`; the result is zero-extended to 64 bits.
    pub const fn alu32_reg(op: Alu, dst: Reg, src: Reg) -> Insn {
        Insn::new(CLASS_ALU | SRC_X | op.bits(), dst, src, 0, 0)
    }

    alu_shorthands! {
        Mov => mov64_imm, mov64_reg, mov32_imm, mov32_reg;
        Add => add64_imm, add64_reg, add32_imm, add32_reg;
        Sub => sub64_imm, sub64_reg, sub32_imm, sub32_reg;
        Mul => mul64_imm, mul64_reg, mul32_imm, mul32_reg;
        Div => div64_imm, div64_reg, div32_imm, div32_reg;
        Mod => mod64_imm, mod64_reg, mod32_imm, mod32_reg;
        And => and64_imm, and64_reg, and32_imm, and32_reg;
        Or => or64_imm, or64_reg, or32_imm, or32_reg;
        Xor => xor64_imm, xor64_reg, xor32_imm, xor32_reg;
        Lsh => lsh64_imm, lsh64_reg, lsh32_imm, lsh32_reg;
        Rsh => rsh64_imm, rsh64_reg, rsh32_imm, rsh32_reg;
        Arsh => arsh64_imm, arsh64_reg, arsh32_imm, arsh32_reg;
    }

    /// 64-bit `dst = -dst`.
    pub const fn neg64(dst: Reg) -> Insn {
        Insn::new(CLASS_ALU64 | ALU_NEG, dst, Reg::R0, 0, 0)
    }

    /// 32-bit `dst = -dst`.
    pub const fn neg32(dst: Reg) -> Insn {
        Insn::new(CLASS_ALU | ALU_NEG, dst, Reg::R0, 0, 0)
    }

    // ---- byte order ----
    // BPF_END lives in the 32-bit ALU class; the immediate is the width. "to big endian"
    // is a byte swap on little-endian hosts and a truncation on big-endian ones, so
    // `be16` turns a 16-bit field loaded from the wire into its numeric value.

    const fn endian(to: u8, dst: Reg, bits: i32) -> Insn {
        Insn::new(CLASS_ALU | ALU_END | to, dst, Reg::R0, 0, bits)
    }

    /// Converts the low 16 bits of `dst` between host and network (big-endian) order,
    /// zeroing the rest.
    pub const fn be16(dst: Reg) -> Insn {
        Insn::endian(END_TO_BE, dst, 16)
    }

    /// Converts the low 32 bits of `dst` between host and big-endian order, zeroing the rest.
    pub const fn be32(dst: Reg) -> Insn {
        Insn::endian(END_TO_BE, dst, 32)
    }

    /// Converts `dst` between host and big-endian order.
    pub const fn be64(dst: Reg) -> Insn {
        Insn::endian(END_TO_BE, dst, 64)
    }

    /// Converts the low 16 bits of `dst` between host and little-endian order, zeroing the
    /// rest.
    pub const fn le16(dst: Reg) -> Insn {
        Insn::endian(END_TO_LE, dst, 16)
    }

    /// Converts the low 32 bits of `dst` between host and little-endian order, zeroing
    /// the rest.
    pub const fn le32(dst: Reg) -> Insn {
        Insn::endian(END_TO_LE, dst, 32)
    }

    /// Converts `dst` between host and little-endian order.
    pub const fn le64(dst: Reg) -> Insn {
        Insn::endian(END_TO_LE, dst, 64)
    }

    // ---- memory ----

    /// `dst = *(size *)(src + off)`.
    pub const fn ldx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(CLASS_LDX | MODE_MEM | size.bits(), dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = src`.
    pub const fn stx(size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::new(CLASS_STX | MODE_MEM | size.bits(), dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = imm` (sign-extended for `DW`).
    pub const fn st(size: Size, dst: Reg, off: i16, imm: i32) -> Insn {
        Insn::new(CLASS_ST | MODE_MEM | size.bits(), dst, Reg::R0, off, imm)
    }

    /// Atomic `*(u64 *)(dst + off) += src` (`lock xadd`).
    pub const fn atomic_add64(dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::new(CLASS_STX | MODE_ATOMIC | Size::DW.bits(), dst, src, off, ATOMIC_ADD)
    }

    /// Atomic `*(u32 *)(dst + off) += src`.
    pub const fn atomic_add32(dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::new(CLASS_STX | MODE_ATOMIC | Size::W.bits(), dst, src, off, ATOMIC_ADD)
    }

    /// `dst = imm` for a full 64-bit immediate. Takes two instruction slots, which count
    /// as two when computing jump offsets.
    pub const fn ld_imm64(dst: Reg, imm: u64) -> [Insn; 2] {
        Insn::ld_imm64_raw(dst, Reg::R0, imm)
    }

    /// `dst = &map`: loads the map whose file descriptor is `fd`. The kernel replaces the
    /// descriptor with the map's address at load time (`BPF_PSEUDO_MAP_FD`), so the map
    /// must stay open until the program is loaded.
    pub const fn ld_map_fd(dst: Reg, fd: RawFd) -> [Insn; 2] {
        let mut pair = Insn::ld_imm64_raw(dst, Reg::R0, fd as u32 as u64);
        pair[0].regs |= PSEUDO_MAP_FD_NIBBLE;
        pair
    }

    const fn ld_imm64_raw(dst: Reg, src: Reg, imm: u64) -> [Insn; 2] {
        [
            Insn::new(CLASS_LD | MODE_IMM | Size::DW.bits(), dst, src, 0, imm as u32 as i32),
            // The second slot carries only the upper half of the immediate.
            Insn { code: 0, regs: 0, off: 0, imm: (imm >> 32) as u32 as i32 },
        ]
    }

    // ---- jumps ----

    /// `if dst CMP imm goto +off` (64-bit compare; imm sign-extended).
    pub const fn jmp_imm(cmp: Jmp, dst: Reg, imm: i32, off: i16) -> Insn {
        Insn::new(CLASS_JMP | SRC_K | cmp.bits(), dst, Reg::R0, off, imm)
    }

    /// `if dst CMP src goto +off` (64-bit compare).
    pub const fn jmp_reg(cmp: Jmp, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(CLASS_JMP | SRC_X | cmp.bits(), dst, src, off, 0)
    }

    /// `if (u32)dst CMP imm goto +off` (compares the low 32 bits).
    pub const fn jmp32_imm(cmp: Jmp, dst: Reg, imm: i32, off: i16) -> Insn {
        Insn::new(CLASS_JMP32 | SRC_K | cmp.bits(), dst, Reg::R0, off, imm)
    }

    /// `if (u32)dst CMP (u32)src goto +off`.
    pub const fn jmp32_reg(cmp: Jmp, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(CLASS_JMP32 | SRC_X | cmp.bits(), dst, src, off, 0)
    }

    /// `goto +off`.
    pub const fn ja(off: i16) -> Insn {
        Insn::new(CLASS_JMP | JMP_JA, Reg::R0, Reg::R0, off, 0)
    }

    /// Calls helper number `helper` (see [`crate::helpers`]): arguments in R1-R5, result
    /// in R0, R1-R5 clobbered.
    pub const fn call(helper: i32) -> Insn {
        Insn::new(CLASS_JMP | JMP_CALL, Reg::R0, Reg::R0, 0, helper)
    }

    /// Calls the kernel function (kfunc) whose `BTF_KIND_FUNC` id in the kernel's BTF is
    /// `btf_id` ([`crate::Btf::find_func`]): `src_reg` = `BPF_PSEUDO_KFUNC_CALL`, `off` 0 (the
    /// function is in vmlinux, not in a module's BTF). Arguments in R1-R5, result in R0, R1-R5
    /// clobbered, as for a helper. The verifier checks the arguments against the function's
    /// BTF prototype and refuses a kfunc the program type may not call.
    pub const fn call_kfunc(btf_id: u32) -> Insn {
        let regs = if cfg!(target_endian = "little") { PSEUDO_KFUNC_CALL << 4 } else { PSEUDO_KFUNC_CALL };
        Insn { code: CLASS_JMP | JMP_CALL, regs, off: 0, imm: btf_id as i32 }
    }

    /// Returns R0 to the caller.
    pub const fn exit() -> Insn {
        Insn::new(CLASS_JMP | JMP_EXIT, Reg::R0, Reg::R0, 0, 0)
    }

    /// True for an opcode whose `off` is a jump distance that [`crate::Asm`] may patch.
    pub(crate) const fn is_jump(&self) -> bool {
        let class = self.code & 0x07;
        let operation = self.code & 0xf0;
        (class == CLASS_JMP || class == CLASS_JMP32) && operation != JMP_CALL && operation != JMP_EXIT
    }
}

/// `PSEUDO_MAP_FD` placed in the source-register nibble.
const PSEUDO_MAP_FD_NIBBLE: u8 = if cfg!(target_endian = "little") { PSEUDO_MAP_FD << 4 } else { PSEUDO_MAP_FD };

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(insn: Insn) -> [u8; 8] {
        insn.to_bytes()
    }

    // Reference encodings from `llvm-objdump -d` of clang-built BPF objects and the
    // kernel's instruction-set document (little-endian host).
    #[test]
    fn alu_encodings() {
        assert_eq!(bytes(Insn::mov64_imm(Reg::R0, 2)), [0xb7, 0x00, 0, 0, 2, 0, 0, 0]);
        assert_eq!(bytes(Insn::mov64_reg(Reg::R6, Reg::R1)), [0xbf, 0x16, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::mov32_imm(Reg::R0, 1)), [0xb4, 0x00, 0, 0, 1, 0, 0, 0]);
        assert_eq!(bytes(Insn::add64_imm(Reg::R2, -4)), [0x07, 0x02, 0, 0, 0xfc, 0xff, 0xff, 0xff]);
        assert_eq!(bytes(Insn::add64_reg(Reg::R1, Reg::R7)), [0x0f, 0x71, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::sub64_reg(Reg::R2, Reg::R3)), [0x1f, 0x32, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::and64_imm(Reg::R4, 0x0f)), [0x57, 0x04, 0, 0, 0x0f, 0, 0, 0]);
        assert_eq!(bytes(Insn::or64_reg(Reg::R1, Reg::R2)), [0x4f, 0x21, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::lsh64_imm(Reg::R4, 2)), [0x67, 0x04, 0, 0, 2, 0, 0, 0]);
        assert_eq!(bytes(Insn::rsh64_imm(Reg::R1, 32)), [0x77, 0x01, 0, 0, 32, 0, 0, 0]);
        assert_eq!(bytes(Insn::arsh64_imm(Reg::R1, 1)), [0xc7, 0x01, 0, 0, 1, 0, 0, 0]);
        assert_eq!(bytes(Insn::xor32_reg(Reg::R0, Reg::R0)), [0xac, 0x00, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::neg64(Reg::R3)), [0x87, 0x03, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn byte_swap_encodings() {
        assert_eq!(bytes(Insn::be16(Reg::R1)), [0xdc, 0x01, 0, 0, 16, 0, 0, 0]);
        assert_eq!(bytes(Insn::be32(Reg::R2)), [0xdc, 0x02, 0, 0, 32, 0, 0, 0]);
        assert_eq!(bytes(Insn::le64(Reg::R3)), [0xd4, 0x03, 0, 0, 64, 0, 0, 0]);
    }

    #[test]
    fn memory_encodings() {
        assert_eq!(bytes(Insn::ldx(Size::W, Reg::R2, Reg::R1, 0)), [0x61, 0x12, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::ldx(Size::W, Reg::R3, Reg::R1, 4)), [0x61, 0x13, 4, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::ldx(Size::H, Reg::R4, Reg::R2, 12)), [0x69, 0x24, 12, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::ldx(Size::B, Reg::R4, Reg::R7, 9)), [0x71, 0x74, 9, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 8)), [0x79, 0x01, 8, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::stx(Size::DW, Reg::R10, -8, Reg::R1)), [0x7b, 0x1a, 0xf8, 0xff, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::st(Size::W, Reg::R10, -4, 0)), [0x62, 0x0a, 0xfc, 0xff, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::atomic_add64(Reg::R0, 0, Reg::R1)), [0xdb, 0x10, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::atomic_add32(Reg::R0, 4, Reg::R1)), [0xc3, 0x10, 4, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn wide_immediates() {
        let [lo, hi] = Insn::ld_imm64(Reg::R1, 0x1122_3344_5566_7788);
        assert_eq!(bytes(lo), [0x18, 0x01, 0, 0, 0x88, 0x77, 0x66, 0x55]);
        assert_eq!(bytes(hi), [0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11]);

        let [lo, hi] = Insn::ld_map_fd(Reg::R1, 5);
        assert_eq!(bytes(lo), [0x18, 0x11, 0, 0, 5, 0, 0, 0]);
        assert_eq!(bytes(hi), [0; 8]);
        assert_eq!((lo.dst(), lo.src()), (1, 1));
    }

    #[test]
    fn jump_encodings() {
        assert_eq!(bytes(Insn::exit()), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::call(1)), [0x85, 0, 0, 0, 1, 0, 0, 0]);
        // `call bpf_xdp_metadata_rx_hash` as llvm-objdump shows a kfunc call: src_reg 2.
        let kfunc = Insn::call_kfunc(0x0001_e240);
        assert_eq!(bytes(kfunc), [0x85, 0x20, 0, 0, 0x40, 0xe2, 0x01, 0]);
        assert_eq!((kfunc.dst(), kfunc.src()), (0, 2));
        assert!(!kfunc.is_jump());
        assert_eq!(bytes(Insn::ja(-1)), [0x05, 0, 0xff, 0xff, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::jmp_imm(Jmp::Eq, Reg::R0, 0, 3)), [0x15, 0, 3, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::jmp_reg(Jmp::Gt, Reg::R4, Reg::R3, 7)), [0x2d, 0x34, 7, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::jmp_imm(Jmp::Ne, Reg::R1, 17, 1)), [0x55, 0x01, 1, 0, 17, 0, 0, 0]);
        assert_eq!(bytes(Insn::jmp_imm(Jmp::Set, Reg::R1, 0x40, 2)), [0x45, 0x01, 2, 0, 0x40, 0, 0, 0]);
        assert_eq!(bytes(Insn::jmp_reg(Jmp::Le, Reg::R1, Reg::R2, 1)), [0xbd, 0x21, 1, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(Insn::jmp32_imm(Jmp::Lt, Reg::R1, 5, 1)), [0xa6, 0x01, 1, 0, 5, 0, 0, 0]);
        assert_eq!(bytes(Insn::jmp_imm(Jmp::Sgt, Reg::R1, -1, 1)), [0x65, 0x01, 1, 0, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn jump_classification() {
        assert!(Insn::ja(0).is_jump());
        assert!(Insn::jmp32_reg(Jmp::Eq, Reg::R1, Reg::R2, 0).is_jump());
        assert!(!Insn::call(1).is_jump());
        assert!(!Insn::exit().is_jump());
        assert!(!Insn::mov64_imm(Reg::R0, 0).is_jump());
    }
}
