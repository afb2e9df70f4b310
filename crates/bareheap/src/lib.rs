#![doc = include_str!("../README.md")]
#![no_std]
#![cfg_attr(bareheap_nightly, feature(allocator_api))]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod allocator;
pub mod bump;
pub mod fault;
pub mod first_fit;
pub mod foreign;
#[cfg(feature = "hardened")]
pub mod hardened;
pub mod heap;
mod iterations;
pub mod locked;
pub mod oom;
pub mod region;
mod sanitize;
pub mod sizing;
pub mod slab;
pub mod stats;
#[cfg(test)]
mod test_util;
pub mod tlsf;
pub mod zoned;

pub use allocator::HeapAccess;
pub use bump::{AtomicBump, Bump};
pub use first_fit::{FirstFit, FirstFitWith};
pub use foreign::{Foreign, ForeignAlloc};
pub use heap::{Claim, Corruption, Heap};
#[cfg(feature = "critical-section")]
pub use locked::CriticalSection;
#[cfg(target_has_atomic = "ptr")]
pub use locked::Spin;
pub use locked::{HeapCell, Locked, RawLock};
pub use oom::OnOom;
pub use region::{HeapMemory, Region, RegionError};
pub use slab::Slab;
pub use stats::{Counted, Counters, HeapStats, Stats};
pub use tlsf::{Tlsf, TlsfWith};
pub use zoned::{EmptyHeap, InZone, Zone, ZoneError, Zoned, ZonedHeap};
