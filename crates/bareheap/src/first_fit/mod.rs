//! PLACEHOLDER: being written (see issue 2). Not functional yet.
use core::alloc::Layout;
use core::ptr::NonNull;

use crate::heap::{Claim, Corruption, Heap};
use crate::{Region, RegionError};

/// Placeholder.
pub struct FirstFit {}

impl FirstFit {
    /// Placeholder.
    pub const fn new() -> Self {
        FirstFit {}
    }
}

impl Claim for FirstFit {
    fn claim(&mut self, _region: Region) -> Result<usize, RegionError> {
        Err(RegionError::AlreadyClaimed)
    }
}

// SAFETY: placeholder that never hands out memory.
unsafe impl Heap for FirstFit {
    fn allocate(&mut self, _layout: Layout) -> Option<NonNull<u8>> {
        None
    }
    unsafe fn deallocate(&mut self, _ptr: NonNull<u8>, _layout: Layout) {}
    fn validate(&self) -> Result<(), Corruption> {
        Ok(())
    }
}
