//! A tiny eBPF instruction emitter: only the handful of instructions the device filter uses.
//!
//! Written here rather than taken from a crate: the only maintained Rust eBPF assemblers
//! come with a loader stack (aya's ELF pipeline, libbpf's C library) that the container
//! start path would pay for, while the filter needs five opcodes.

/// One encoded `struct bpf_insn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

// Instruction classes and fields from linux/bpf_common.h and linux/bpf.h.
const BPF_LDX: u8 = 0x01;
const BPF_ALU: u8 = 0x04;
const BPF_JMP: u8 = 0x05;
const BPF_ALU64: u8 = 0x07;
const BPF_W: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
const BPF_K: u8 = 0x00;
const BPF_X: u8 = 0x08;
const BPF_AND: u8 = 0x50;
const BPF_RSH: u8 = 0x70;
const BPF_MOV: u8 = 0xb0;
const BPF_JEQ: u8 = 0x10;
const BPF_JNE: u8 = 0x50;
const BPF_EXIT: u8 = 0x90;

/// dst = *(u32 *)(src + off)
pub fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
    Insn {
        code: BPF_LDX | BPF_MEM | BPF_W,
        dst,
        src,
        off,
        imm: 0,
    }
}

/// dst = (u32)dst & imm
pub fn and32_imm(dst: u8, imm: i32) -> Insn {
    Insn {
        code: BPF_ALU | BPF_AND | BPF_K,
        dst,
        src: 0,
        off: 0,
        imm,
    }
}

/// dst = (u32)dst >> imm
pub fn rsh32_imm(dst: u8, imm: i32) -> Insn {
    Insn {
        code: BPF_ALU | BPF_RSH | BPF_K,
        dst,
        src: 0,
        off: 0,
        imm,
    }
}

/// dst = src (32-bit, zero-extends)
pub fn mov32_reg(dst: u8, src: u8) -> Insn {
    Insn {
        code: BPF_ALU | BPF_MOV | BPF_X,
        dst,
        src,
        off: 0,
        imm: 0,
    }
}

/// dst = imm (64-bit)
pub fn mov64_imm(dst: u8, imm: i32) -> Insn {
    Insn {
        code: BPF_ALU64 | BPF_MOV | BPF_K,
        dst,
        src: 0,
        off: 0,
        imm,
    }
}

/// if dst != imm goto pc + 1 + off
pub fn jne_imm(dst: u8, imm: i32, off: i16) -> Insn {
    Insn {
        code: BPF_JMP | BPF_JNE | BPF_K,
        dst,
        src: 0,
        off,
        imm,
    }
}

/// if dst == imm goto pc + 1 + off
pub fn jeq_imm(dst: u8, imm: i32, off: i16) -> Insn {
    Insn {
        code: BPF_JMP | BPF_JEQ | BPF_K,
        dst,
        src: 0,
        off,
        imm,
    }
}

/// if dst != src goto pc + 1 + off
pub fn jne_reg(dst: u8, src: u8, off: i16) -> Insn {
    Insn {
        code: BPF_JMP | BPF_JNE | BPF_X,
        dst,
        src,
        off,
        imm: 0,
    }
}

pub fn exit() -> Insn {
    Insn {
        code: BPF_JMP | BPF_EXIT,
        dst: 0,
        src: 0,
        off: 0,
        imm: 0,
    }
}

/// The kernel's byte layout: code, dst:4|src:4 (little-endian bitfields), off, imm.
pub fn encode(insns: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(insns.len() * 8);
    for i in insns {
        out.push(i.code);
        out.push((i.src << 4) | (i.dst & 0x0f));
        out.extend_from_slice(&i.off.to_le_bytes());
        out.extend_from_slice(&i.imm.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_known_instructions() {
        // r0 = 1; exit  ==  b7 00 00 00 01 00 00 00  95 00 00 00 00 00 00 00
        let bytes = encode(&[mov64_imm(0, 1), exit()]);
        assert_eq!(
            bytes,
            [0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]
        );
        // r2 = *(u32 *)(r1 + 4)  ==  61 12 04 00 00 00 00 00
        assert_eq!(encode(&[ldx_w(2, 1, 4)]), [0x61, 0x12, 4, 0, 0, 0, 0, 0]);
        // if r4 != 136 goto +3  ==  55 04 03 00 88 00 00 00
        assert_eq!(
            encode(&[jne_imm(4, 136, 3)]),
            [0x55, 0x04, 3, 0, 136, 0, 0, 0]
        );
    }
}
