//! Finding and installing what the checks need: rustup targets, QEMU.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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

/// How firmware is built for a bare-metal target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toolchain {
    /// rustup's toolchain (the one running xtask) with the target's prebuilt `core`/`alloc`.
    Rustup,
    /// Debian's `rustc-web`/`cargo-web`, building `core` and `alloc` from `rust-web-src`
    /// (`RUSTC_BOOTSTRAP=1`, `-Zbuild-std`) and linking with `ld.lld`: for machines where
    /// rustup cannot download the target.
    Debian,
}

/// Debian's packages for [`Toolchain::Debian`].
const DEBIAN_RUST: &[&str] = &["rustc-web", "cargo-web", "rust-web-src", "lld"];
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";

impl Toolchain {
    /// `cargo <subcommand>` for `target`, run in `dir`, with everything this toolchain needs.
    pub fn cargo(self, subcommand: &str, target: &str, dir: &Path) -> Command {
        match self {
            Toolchain::Rustup => {
                let mut cmd = Command::new(cargo());
                cmd.arg(subcommand).args(["--target", target]).current_dir(dir);
                cmd
            }
            Toolchain::Debian => {
                let mut cmd = Command::new(DEBIAN_CARGO);
                cmd.arg(subcommand)
                    .args(["--target", target, "-Zbuild-std=core,alloc"])
                    .arg("--config")
                    .arg(format!("target.{target}.linker=\"ld.lld\""))
                    .env("RUSTC", DEBIAN_RUSTC)
                    .env("RUSTDOC", "/usr/bin/rustdoc")
                    .env("RUSTC_BOOTSTRAP", "1")
                    // Keep Debian's build products apart from rustup's.
                    .env("CARGO_TARGET_DIR", dir.join("target/debian"))
                    .env_remove("RUSTUP_TOOLCHAIN")
                    .env_remove("CARGO")
                    .current_dir(dir);
                cmd
            }
        }
    }

    /// Where cargo puts the build products for `target` and `profile` of the workspace at `dir`.
    pub fn out_dir(self, dir: &Path, target: &str, profile: &str) -> PathBuf {
        let base = match self {
            Toolchain::Rustup => dir.join("target"),
            Toolchain::Debian => dir.join("target/debian"),
        };
        base.join(target).join(profile)
    }

    /// Whether `cargo clippy` works for bare-metal targets with this toolchain.
    pub fn has_clippy(self) -> bool {
        self == Toolchain::Rustup
    }
}

/// Makes sure firmware can be built for `target`: rustup's target if it is installed or can be
/// installed, otherwise Debian's toolchain with build-std (installed with apt when root).
/// `BAREHEAP_TOOLCHAIN=rustup|debian` forces a choice.
///
/// # Errors
///
/// Why neither works, with the command that would fix it.
pub fn ensure_target(target: &str) -> Result<Toolchain, String> {
    let forced = std::env::var("BAREHEAP_TOOLCHAIN").unwrap_or_default();
    if forced != "debian" {
        if rustup_has_target(target) {
            return Ok(Toolchain::Rustup);
        }
        println!("xtask: installing the Rust target {target}: rustup target add {target}");
        let added = Command::new("rustup").args(["target", "add", target]).status();
        if added.is_ok_and(|s| s.success()) {
            return Ok(Toolchain::Rustup);
        }
        if forced == "rustup" {
            return Err(format!("`rustup target add {target}` failed"));
        }
        println!(
            "xtask: rustup cannot fetch {target}; falling back to Debian's Rust toolchain \
             ({}) with -Zbuild-std=core,alloc and the ld.lld linker",
            DEBIAN_RUST.join(" ")
        );
    } else {
        println!("xtask: BAREHEAP_TOOLCHAIN=debian: building with Debian's Rust and build-std");
    }
    ensure_debian_rust()?;
    Ok(Toolchain::Debian)
}

fn rustup_has_target(target: &str) -> bool {
    let out = Command::new("rustup").args(["target", "list", "--installed"]).output();
    out.is_ok_and(|o| {
        o.status.success() && String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == target)
    })
}

/// Debian's rustc with its library sources and lld, installed when missing (as root).
fn ensure_debian_rust() -> Result<(), String> {
    let ready = || {
        let sysroot = Command::new(DEBIAN_RUSTC).args(["--print", "sysroot"]).output();
        let Ok(sysroot) = sysroot else { return false };
        let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
        Path::new(DEBIAN_CARGO).exists()
            && sysroot.join("lib/rustlib/src/rust/library/core").is_dir()
            && which("ld.lld").is_some()
    };
    if !ready() {
        apt_install(DEBIAN_RUST)?;
        if !ready() {
            return Err(format!(
                "Debian's Rust ({}) is installed but incomplete: need {DEBIAN_CARGO}, \
                 {DEBIAN_RUSTC} with library sources, and ld.lld",
                DEBIAN_RUST.join(" ")
            ));
        }
    }
    let version = Command::new(DEBIAN_RUSTC).arg("--version").output();
    if let Ok(v) = version {
        println!("xtask: using {}", String::from_utf8_lossy(&v.stdout).trim());
    }
    Ok(())
}

/// Makes sure `program` (e.g. `qemu-system-arm`) is on the PATH, installing Debian's
/// `package` when it is not and we are root.
///
/// # Errors
///
/// The exact command to run, when we are not root or the installation failed.
pub fn ensure_program(program: &str, package: &str) -> Result<PathBuf, String> {
    if let Some(path) = which(program) {
        return Ok(path);
    }
    println!("xtask: {program} not found; installing Debian's {package}");
    apt_install(&[package])?;
    which(program).ok_or_else(|| format!("{package} was installed but {program} is not on PATH"))
}

/// `apt-get install -y --no-install-recommends <packages>` (after one `apt-get update`).
fn apt_install(packages: &[&str]) -> Result<(), String> {
    let list = packages.join(" ");
    let command = format!("apt-get update && apt-get install -y --no-install-recommends {list}");
    if !is_root() {
        return Err(format!("not root, so not installing; run: sudo sh -c '{command}'"));
    }
    println!("xtask: {command}");
    static UPDATED: OnceLock<bool> = OnceLock::new();
    let updated = *UPDATED
        .get_or_init(|| Command::new("apt-get").arg("update").status().is_ok_and(|s| s.success()));
    if !updated {
        return Err(format!("`apt-get update` failed; to install by hand: {command}"));
    }
    let installed = Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success());
    if installed {
        Ok(())
    } else {
        Err(format!("`apt-get install {list}` failed; to install by hand: {command}"))
    }
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output();
    out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The full path of `program` if it is on the PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}
