//! PLACEHOLDER: being written (see issue 2). Not functional yet.
use core::alloc::Layout;
use core::ptr::NonNull;

use crate::heap::{Claim, Corruption, Heap};
use crate::{Region, RegionError};

/// Placeholder.
pub struct Bump {}

impl Bump {
    /// Placeholder.
    pub const fn new() -> Self {
        Bump {}
    }
}

impl Claim for Bump {
    fn claim(&mut self, _region: Region) -> Result<usize, RegionError> {
        Err(RegionError::AlreadyClaimed)
    }
}

// SAFETY: placeholder that never hands out memory.
unsafe impl Heap for Bump {
    fn allocate(&mut self, _layout: Layout) -> Option<NonNull<u8>> {
        None
    }
    unsafe fn deallocate(&mut self, _ptr: NonNull<u8>, _layout: Layout) {}
    fn validate(&self) -> Result<(), Corruption> {
        Ok(())
    }
}
/// Placeholder.
pub struct AtomicBump {}
