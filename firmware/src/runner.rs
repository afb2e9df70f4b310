//! A test-table runner for firmware: runs each test, prints `test <name> ... ok|FAILED`, a
//! summary line, and exits with the verdict ([`crate::EXIT_PASS`] or [`crate::EXIT_FAIL`]).

use crate::hprintln;

/// A failed check. The details were printed where it was detected (see [`ensure!`](crate::ensure)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failed;

/// What a test returns.
pub type Outcome = Result<(), Failed>;

/// One entry of a test table; `C` is the context every test of the table gets (e.g. the heap
/// under test), `()` for none.
pub struct Test<C> {
    /// `<operation>_<condition>_<expectation>`.
    pub name: &'static str,
    /// The test body.
    pub run: fn(&mut C) -> Outcome,
}

/// Checks a condition; on failure prints the location and the message and returns
/// `Err(Failed)` from the enclosing function.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            $crate::hprintln!("    check failed at {}:{}: {}", file!(), line!(), format_args!($($msg)+));
            return Err($crate::runner::Failed);
        }
    };
}

/// Runs every test of `suite` in order, each with `ctx`, and exits: status 0 if all passed, 1
/// otherwise.
pub fn run<C>(suite: &str, ctx: &mut C, tests: &[Test<C>]) -> ! {
    run_tables(suite, ctx, &[tests])
}

/// [`run`] for tests that come in several tables (e.g. generic ones and a program's own).
pub fn run_tables<C>(suite: &str, ctx: &mut C, tables: &[&[Test<C>]]) -> ! {
    let count: usize = tables.iter().map(|t| t.len()).sum();
    hprintln!("running {} test(s) of {}", count, suite);
    let mut failed = 0u32;
    for test in tables.iter().flat_map(|t| t.iter()) {
        hprintln!("test {} ...", test.name);
        match (test.run)(ctx) {
            Ok(()) => hprintln!("test {} ... ok", test.name),
            Err(Failed) => {
                failed += 1;
                hprintln!("test {} ... FAILED", test.name);
            }
        }
    }
    let passed = count as u32 - failed;
    hprintln!("{}: {} passed, {} failed", suite, passed, failed);
    crate::exit(if failed == 0 { crate::EXIT_PASS } else { crate::EXIT_FAIL })
}
