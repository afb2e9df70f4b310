//! Decides whether the `nightly` feature can take effect.
//!
//! The feature implements the unstable `core::alloc::Allocator`, which only a nightly compiler
//! accepts. Rather than breaking `cargo build --all-features` on stable, the impls are compiled
//! under `cfg(bareheap_nightly)`, set here only when the feature is on *and* the compiler accepts
//! `#![feature(allocator_api)]` (probed by compiling a one-line crate). On stable the feature is
//! ignored with a build warning, never silently.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(bareheap_nightly)");
    // The loom models (crates/bareheap-testkit/loom) build the crate with `--cfg loom`.
    println!("cargo::rustc-check-cfg=cfg(loom)");
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "nightly")]
    nightly();
}

#[cfg(feature = "nightly")]
fn nightly() {
    let probe = autocfg::AutoCfg::new().and_then(|ac| {
        ac.probe_raw(
            "#![no_std]\n#![feature(allocator_api)]\npub use core::alloc::Allocator as Probe;",
        )
    });
    match probe {
        Ok(()) => println!("cargo::rustc-cfg=bareheap_nightly"),
        Err(_) => println!(
            "cargo::warning=bareheap: feature `nightly` ignored: this compiler does not accept \
             `#![feature(allocator_api)]` (use a nightly toolchain); core::alloc::Allocator is \
             not implemented in this build"
        ),
    }
}
