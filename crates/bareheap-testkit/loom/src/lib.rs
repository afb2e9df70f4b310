//! loom models of bareheap's lock-free parts: see `tests/models.rs`.
