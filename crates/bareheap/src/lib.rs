#![doc = include_str!("../README.md")]
#![no_std]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod bump;
pub mod first_fit;
pub mod heap;
pub mod locked;
pub mod region;
pub mod tlsf;

pub use bump::{AtomicBump, Bump};
pub use first_fit::FirstFit;
pub use heap::{Claim, Corruption, Heap};
#[cfg(feature = "critical-section")]
pub use locked::CriticalSection;
#[cfg(target_has_atomic = "ptr")]
pub use locked::Spin;
pub use locked::{Locked, RawLock};
pub use region::{HeapMemory, Region, RegionError};
pub use tlsf::{Tlsf, TlsfWith};
