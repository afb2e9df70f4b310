//! The C ABI checked from outside Rust: bareheap-c built as a staticlib, linked into a C
//! program by the system C compiler against `include/bareheap.h`, and run; plus the bare-metal
//! staticlib (standard names, own panic handler) built for thumbv7m.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::report::Report;

pub fn test(report: &mut Report) {
    host_program(report);
    report.cargo(
        "bareheap-c staticlib for thumbv7m (unprefixed, critical-section)",
        &[
            "rustc",
            "-p",
            "bareheap-c",
            "--release",
            "--crate-type",
            "staticlib",
            "--target",
            "thumbv7m-none-eabi",
            "--features",
            "panic-handler,unprefixed,critical-section",
        ],
    );
}

fn host_program(report: &mut Report) {
    let name = "C program linked against the bareheap-c staticlib (host)";
    let root = crate::setup::root();
    if !report.cargo(
        "bareheap-c staticlib (host)",
        &["rustc", "-p", "bareheap-c", "--release", "--crate-type", "staticlib"],
    ) {
        report.skip(name, "the staticlib did not build");
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    if Command::new(&cc).arg("--version").output().is_err() {
        report.skip(name, &format!("no C compiler (`{cc}`)"));
        return;
    }
    let c = root.join("crates/bareheap-interop-tests/c");
    let out = root.join("target/release/bareheap_c_abi_test");
    let start = Instant::now();
    println!("\n==> {name}");
    let mut build = Command::new(&cc);
    build
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1"])
        .arg("-I")
        .arg(root.join("crates/bareheap-c/include"))
        .arg(c.join("abi_main.c"))
        .arg(c.join("abi_test.c"))
        .arg(root.join("target/release/libbareheap_c.a"))
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&out);
    if !status_ok(&mut build) {
        report.record(name, false, start);
        return;
    }
    match Command::new(Path::new(&out)).status().map(|s| s.code()) {
        Ok(Some(0)) => report.record(name, true, start),
        other => {
            eprintln!("C program: {other:?}");
            report.record(name, false, start);
        }
    }
}

fn status_ok(cmd: &mut Command) -> bool {
    match cmd.status() {
        Ok(s) => s.success(),
        Err(e) => {
            eprintln!("could not start {cmd:?}: {e}");
            false
        }
    }
}
