//! Puts the board's `memory.x` on the linker search path, where cortex-m-rt's `link.x` finds it.
//!
//! The board is `BAREHEAP_BOARD` if set (xtask sets it), else the default board of the target.

use std::path::PathBuf;
use std::{env, fs};

/// The board each target runs on when `BAREHEAP_BOARD` is not set.
const DEFAULT_BOARDS: &[(&str, &str)] = &[("thumbv7m-none-eabi", "lm3s6965evb")];

fn main() {
    println!("cargo:rerun-if-env-changed=BAREHEAP_BOARD");
    let target = env::var("TARGET").unwrap_or_default();
    let board = env::var("BAREHEAP_BOARD").ok().filter(|b| !b.is_empty()).unwrap_or_else(|| {
        let found = DEFAULT_BOARDS.iter().find(|(t, _)| *t == target);
        match found {
            Some((_, board)) => (*board).to_owned(),
            None => panic!("no default board for target {target}: set BAREHEAP_BOARD"),
        }
    });
    let src = PathBuf::from("boards").join(&board).join("memory.x");
    println!("cargo:rerun-if-changed={}", src.display());
    let memory = fs::read(&src)
        .unwrap_or_else(|e| panic!("board {board}: cannot read {}: {e}", src.display()));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), memory).expect("OUT_DIR is writable");
    println!("cargo:rustc-link-search={}", out.display());
}
