//! Finding and installing what the checks need: rustup targets, QEMU.

use std::path::PathBuf;

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().expect("xtask lives in the workspace root").to_path_buf()
}

/// The cargo that runs us.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Makes sure rustup has `toolchain` (minimal profile); false if it cannot be installed.
pub fn ensure_toolchain(toolchain: &str) -> bool {
    let installed = std::process::Command::new("rustup")
        .args(["run", toolchain, "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        return true;
    }
    println!("installing Rust {toolchain} (minimal profile) for the MSRV check");
    std::process::Command::new("rustup")
        .args(["toolchain", "install", toolchain, "--profile", "minimal"])
        .status()
        .is_ok_and(|s| s.success())
}
