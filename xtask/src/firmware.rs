//! The Cortex-M firmware: the demo and the on-target tests, run in QEMU.

use crate::report::Report;

/// Builds and runs the demo firmware in QEMU.
pub fn demo(report: &mut Report) {
    report.skip("demo", "firmware not written yet");
}

/// Builds every firmware test and runs each in QEMU; QEMU's exit status is the verdict.
pub fn test(report: &mut Report) {
    report.skip("firmware tests", "firmware not written yet");
}
