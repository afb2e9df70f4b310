//! Puts the memory map on the linker's search path for the runtime's `link.x`: `memory.x` on
//! Cortex-M (cortex-m-rt includes it), `memory-riscv.x` on RISC-V (`.cargo/config.toml` names
//! it before riscv-rt's `link.x`; a different name, as the linker looks in this folder first).

use std::path::PathBuf;

fn main() {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let file = if arch.starts_with("riscv") { "memory-riscv.x" } else { "memory.x" };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::copy(file, out.join(file)).expect("copy the memory map");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={file}");
}
