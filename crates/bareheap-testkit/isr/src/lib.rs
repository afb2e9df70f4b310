//! Empty: everything is in `tests/sigmask.rs`.
