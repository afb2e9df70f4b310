// The boards the firmware runs on: the one table of memory maps, timer clocks and QEMU command
// lines. `include!`d by `firmware/build.rs` (which writes the board's `memory.x` and constants)
// and by `xtask/src/firmware.rs` (which builds for and runs on every row). Adding a board is one
// row here (and a `[target.<triple>]` in `firmware/.cargo/config.toml` for a new target).
//
// Sources for the numbers: the memory maps are QEMU 7.2's (`info mtree` in its monitor); the
// timer clocks are the ones QEMU gives SysTick (the board's CPU clock) or the RISC-V ACLINT
// `mtime` (10 MHz on `virt`).

/// A memory region: first address and length in bytes.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    /// The first address.
    pub origin: u32,
    /// The length in bytes.
    pub length: u32,
}

/// A machine QEMU emulates, and how to build for and run on it.
#[derive(Clone, Copy, Debug)]
pub struct Board {
    /// The board's name in the test matrix and in `BAREHEAP_BOARD`.
    pub name: &'static str,
    /// The core, as users know it.
    pub core: &'static str,
    /// The Rust target.
    pub target: &'static str,
    /// The QEMU program.
    pub qemu: &'static str,
    /// The Debian package that has it.
    pub qemu_package: &'static str,
    /// QEMU's arguments before `-kernel <elf>`.
    pub qemu_args: &'static [&'static str],
    /// Where code and constants go (on `virt`, the first part of its RAM: QEMU loads the ELF
    /// there and jumps to its start).
    pub flash: Memory,
    /// Where `.data`, `.bss` (the heap arenas) and the stack go.
    pub ram: Memory,
    /// The clock of the periodic timer the interrupt tests use: SysTick's core clock, or the
    /// RISC-V `mtime` counter.
    pub timer_hz: u32,
    /// RISC-V only: the base address of the CLINT (`mtimecmp` of hart 0 at +0x4000, `mtime`
    /// at +0xBFF8); 0 on Cortex-M, whose SysTick sits at the same address on every core.
    pub clint: u32,
    /// The largest heap arena a test uses, in bytes: 16 KiB where RAM allows, the others scale
    /// from it (stress: all of it; out of memory: half; interrupt tests: one and a half).
    pub arena: u32,
}

const KIB: u32 = 1024;
const MIB: u32 = 1024 * 1024;

/// QEMU's options for a board: its own (`-machine ...`), then what every board shares: no
/// display; semihosting for output and the exit status; and `-icount shift=4`, which makes
/// virtual time follow the instruction count (16 ns per instruction), so timer interrupts land
/// at the same instructions on every run, however loaded the host (a failing interleaving can
/// be replayed), and often enough to interrupt half of `main`'s heap calls.
macro_rules! qemu_args {
    ($($arg:literal),+) => {
        &[$($arg,)+ "-nographic", "-semihosting-config", "enable=on,target=native",
          "-icount", "shift=4"]
    };
}

/// Every board the firmware tests run on. The first row of each target is its default board.
pub const BOARDS: &[Board] = &[
    Board {
        name: "microbit",
        core: "Cortex-M0",
        target: "thumbv6m-none-eabi",
        qemu: "qemu-system-arm",
        qemu_package: "qemu-system-arm",
        qemu_args: qemu_args!("-machine", "microbit"),
        // nRF51822: 256 KiB flash, 16 KiB RAM.
        flash: Memory { origin: 0x0000_0000, length: 256 * KIB },
        ram: Memory { origin: 0x2000_0000, length: 16 * KIB },
        timer_hz: 16_000_000,
        clint: 0,
        arena: 8 * KIB,
    },
    Board {
        name: "lm3s6965evb",
        core: "Cortex-M3",
        target: "thumbv7m-none-eabi",
        qemu: "qemu-system-arm",
        qemu_package: "qemu-system-arm",
        qemu_args: qemu_args!("-machine", "lm3s6965evb", "-cpu", "cortex-m3"),
        // TI Stellaris LM3S6965: 256 KiB flash, 64 KiB SRAM.
        flash: Memory { origin: 0x0000_0000, length: 256 * KIB },
        ram: Memory { origin: 0x2000_0000, length: 64 * KIB },
        // 200 MHz / 16: the reset value of RCC.SYSDIV.
        timer_hz: 12_500_000,
        clint: 0,
        arena: 16 * KIB,
    },
    Board {
        name: "mps2-an386",
        core: "Cortex-M4F",
        target: "thumbv7em-none-eabihf",
        qemu: "qemu-system-arm",
        qemu_package: "qemu-system-arm",
        qemu_args: qemu_args!("-machine", "mps2-an386"),
        // ZBT SSRAM1 (4 MiB) holds the code, SSRAM2/3 (4 MiB) the data.
        flash: Memory { origin: 0x0000_0000, length: 4 * MIB },
        ram: Memory { origin: 0x2000_0000, length: 4 * MIB },
        timer_hz: 25_000_000,
        clint: 0,
        arena: 16 * KIB,
    },
    Board {
        name: "mps2-an500",
        core: "Cortex-M7",
        target: "thumbv7em-none-eabihf",
        qemu: "qemu-system-arm",
        qemu_package: "qemu-system-arm",
        qemu_args: qemu_args!("-machine", "mps2-an500"),
        // The same map as the AN386.
        flash: Memory { origin: 0x0000_0000, length: 4 * MIB },
        ram: Memory { origin: 0x2000_0000, length: 4 * MIB },
        timer_hz: 25_000_000,
        clint: 0,
        arena: 16 * KIB,
    },
    Board {
        name: "mps2-an505",
        core: "Cortex-M33",
        target: "thumbv8m.main-none-eabi",
        qemu: "qemu-system-arm",
        qemu_package: "qemu-system-arm",
        qemu_args: qemu_args!("-machine", "mps2-an505"),
        // The core starts in the Secure state at 0x1000_0000 (the Secure alias of SSRAM1,
        // 4 MiB); data in SSRAM2 through its Secure alias 0x3800_0000 (2 MiB).
        flash: Memory { origin: 0x1000_0000, length: 4 * MIB },
        ram: Memory { origin: 0x3800_0000, length: 2 * MIB },
        timer_hz: 20_000_000,
        clint: 0,
        arena: 16 * KIB,
    },
    Board {
        name: "virt-rv32imac",
        core: "RISC-V RV32IMAC",
        target: "riscv32imac-unknown-none-elf",
        qemu: "qemu-system-riscv32",
        qemu_package: "qemu-system-misc",
        qemu_args: qemu_args!("-machine", "virt", "-bios", "none"),
        // DRAM starts at 0x8000_0000 (128 MiB by default); `-bios none` jumps there. The first
        // 2 MiB play flash, the next 2 MiB RAM.
        flash: Memory { origin: 0x8000_0000, length: 2 * MIB },
        ram: Memory { origin: 0x8020_0000, length: 2 * MIB },
        timer_hz: 10_000_000,
        clint: 0x0200_0000,
        arena: 16 * KIB,
    },
    Board {
        name: "virt-rv32i",
        core: "RISC-V RV32I (no atomics)",
        target: "riscv32i-unknown-none-elf",
        qemu: "qemu-system-riscv32",
        qemu_package: "qemu-system-misc",
        qemu_args: qemu_args!("-machine", "virt", "-bios", "none"),
        flash: Memory { origin: 0x8000_0000, length: 2 * MIB },
        ram: Memory { origin: 0x8020_0000, length: 2 * MIB },
        timer_hz: 10_000_000,
        clint: 0x0200_0000,
        arena: 16 * KIB,
    },
];

/// The board called `name`.
#[allow(dead_code)] // not every includer uses every helper
pub fn board_named(name: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.name == name)
}

/// The default board of `target`: its first row.
#[allow(dead_code)]
pub fn default_board(target: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.target == target)
}
