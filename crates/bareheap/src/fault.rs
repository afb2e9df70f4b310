//! Invalid frees and detected corruption: one report type, one replaceable handler.
//!
//! Every heap checks each pointer it is asked to free (or grow, or shrink) **before writing
//! anything**. When a check fails, the heap builds a [`Fault`], passes it to the handler, and
//! then leaves the block alone: the call becomes a no-op (`grow`/`shrink` return `None`). The
//! heap is unchanged, so it stays usable whatever the handler decides.
//!
//! # Tiers
//!
//! | tier | what is checked | where | cost |
//! | --- | --- | --- | --- |
//! | default (always on) | pointer outside every region ([`FaultKind::Outside`]); not aligned like a payload ([`FaultKind::Misaligned`]); block not allocated, e.g. a double free ([`FaultKind::NotAllocated`]); header or free-list neighbours inconsistent ([`FaultKind::BadHeader`], [`FaultKind::OverlapsFree`]); slab-specific: [`FaultKind::NotBlockStart`], [`FaultKind::WrongClass`] | every heap's `deallocate`, `grow`, `shrink` | a few compares per free; see BENCHMARKS.md |
//! | `hardened` feature | a trailer after every block: the recorded request size (the [`Layout`](core::alloc::Layout) given to `deallocate` must match, [`FaultKind::LayoutMismatch`]) and a canary word right behind the payload ([`FaultKind::CanaryDamaged`]); `FirstFit`'s free-list links stored XOR a per-heap key and bounds-checked when read ([`FaultKind::CorruptLink`]) | `bareheap::hardened` | two words per block and a few dozen instructions per free; see BENCHMARKS.md |
//!
//! A check catches misuse; it is not a licence: a free that passes the checks must still
//! respect [`Heap::deallocate`](crate::Heap::deallocate)'s contract. For instance, a pointer into
//! the middle of a live block passes the default tier when the word before it happens to look
//! like a header.
//!
//! # The handler
//!
//! [`set_handler`] installs an `extern "C" fn(&Fault)`; [`reset_handler`] restores the
//! default. The handler runs inside the allocator, with the heap's lock held:
//!
//! - It **must not allocate or free** through the same heap (the lock would refuse, or a spin
//!   lock would deadlock).
//! - It **may return**: the free is then ignored, which is always safe because nothing was
//!   written. Or it may diverge: reset the chip, log to backup RAM and halt, trap into a
//!   debugger.
//! - It **cannot unwind**: a panic in an `extern "C"` function aborts the program instead of
//!   unwinding (Rust ≥ 1.81). That is why the handler type is `extern "C"`: unwinding out of
//!   [`GlobalAlloc::dealloc`](core::alloc::GlobalAlloc::dealloc) is undefined behaviour, and a
//!   `Rust`-ABI handler that panics would do exactly that under `panic = "unwind"`.
//!
//! **The default handler counts and ignores** ([`count`]). It does not panic (see above), and
//! it does not abort: `core` has no portable abort, and an invalid free that was refused has done
//! no harm, so stopping a device in the field for it is the application's call, not the
//! library's. Firmware that wants fail-stop installs a handler that resets or halts.
//!
//! The handler is a process-wide setting (one per program, like `#[global_allocator]`), kept in
//! one atomic word read with a plain atomic load: no compare-and-swap, so it works on targets
//! without atomic read-modify-write (thumbv6m, riscv32i). Per-heap counters (for example
//! [`Slab::invalid_frees`](crate::Slab::invalid_frees)) are kept besides it.
//!
//! # Examples
//!
//! ```
//! use core::alloc::Layout;
//! use core::sync::atomic::{AtomicUsize, Ordering};
//! use bareheap::fault::{self, Fault, FaultKind};
//! use bareheap::{Claim, FirstFit, Heap, HeapMemory};
//!
//! static SEEN: AtomicUsize = AtomicUsize::new(0);
//!
//! extern "C" fn on_fault(fault: &Fault) {
//!     // Firmware would log `fault` to backup RAM and reset here.
//!     assert_eq!(fault.kind, FaultKind::NotAllocated);
//!     SEEN.fetch_add(1, Ordering::Relaxed);
//! }
//!
//! static MEMORY: HeapMemory<256> = HeapMemory::new();
//! let mut heap = FirstFit::new();
//! heap.claim(MEMORY.take().unwrap()).unwrap();
//! let layout = Layout::new::<u64>();
//! let p = heap.allocate(layout).unwrap();
//!
//! fault::set_handler(on_fault);
//! // SAFETY: the first free is valid; the second is the bug being demonstrated: it is
//! // detected before anything is written, reported, and ignored.
//! unsafe {
//!     heap.deallocate(p, layout);
//!     heap.deallocate(p, layout);
//! }
//! fault::reset_handler();
//! assert_eq!(SEEN.load(Ordering::Relaxed), 1);
//! heap.validate().unwrap();
//! ```

use core::fmt;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Which heap detected a fault.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeapKind {
    /// [`FirstFit`](crate::FirstFit).
    FirstFit,
    /// [`Tlsf`](crate::Tlsf) (any [`TlsfWith`](crate::TlsfWith) parameters).
    Tlsf,
    /// [`Slab`](crate::Slab) (its own slots; pass-through blocks are the backing heap's).
    Slab,
    /// [`Foreign`](crate::Foreign).
    Foreign,
    /// [`Bump`](crate::Bump) (a free outside its region; other frees of old blocks are the
    /// documented no-op).
    Bump,
    /// The `hardened` adapter's trailer checks (`bareheap::hardened`).
    Hardened,
}

/// What was wrong with a free (or `grow`/`shrink`), or what corruption was found.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// The pointer is outside every region the heap manages (a foreign or stale pointer).
    Outside,
    /// The pointer is inside the heap but not aligned like any payload.
    Misaligned,
    /// The block is not marked allocated: a double free, or a pointer that was never returned.
    NotAllocated,
    /// The pointer is inside a block but not at its start (an interior pointer).
    NotBlockStart,
    /// The layout maps to another size class than the block's (slab).
    WrongClass,
    /// The block header is inconsistent: invalid flags, or a size that runs past its region.
    BadHeader,
    /// The block would overlap free memory: its header is stale or forged.
    OverlapsFree,
    /// `hardened`: the size in the `Layout` given to `deallocate` (or `grow`/`shrink`) is not
    /// the size the block was allocated with.
    LayoutMismatch,
    /// `hardened`: the canary right behind the payload was overwritten (a linear overflow).
    CanaryDamaged,
    /// A free-list link was found damaged (a write after free). Slab detects it in every build,
    /// `FirstFit` in `hardened` builds.
    CorruptLink,
}

impl FaultKind {
    /// A one-line description.
    pub const fn describe(self) -> &'static str {
        match self {
            FaultKind::Outside => "pointer outside every region",
            FaultKind::Misaligned => "pointer not aligned like a payload",
            FaultKind::NotAllocated => "block not allocated (double free?)",
            FaultKind::NotBlockStart => "pointer not at the start of a block",
            FaultKind::WrongClass => "layout does not match the block's size class",
            FaultKind::BadHeader => "block header damaged",
            FaultKind::OverlapsFree => "block overlaps free memory",
            FaultKind::LayoutMismatch => "layout size differs from the allocated size",
            FaultKind::CanaryDamaged => "canary behind the block overwritten (overflow)",
            FaultKind::CorruptLink => "free-list link damaged (write after free?)",
        }
    }
}

/// One detection, as passed to the handler.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fault {
    /// The heap that detected it.
    pub heap: HeapKind,
    /// What was wrong.
    pub kind: FaultKind,
    /// The address concerned: the pointer passed to `deallocate` (`grow`, `shrink`); for a
    /// [`FaultKind::CorruptLink`] found while allocating, the block whose link was damaged (0
    /// for a list head outside the heap).
    pub addr: usize,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {} at {:#x}", self.heap, self.kind.describe(), self.addr)
    }
}

/// The type of a fault handler. See the [module documentation](self) for what it may do.
pub type Handler = extern "C" fn(&Fault);

/// The installed handler as a pointer, or null for the default.
static HANDLER: AtomicPtr<()> = AtomicPtr::new(ptr::null_mut());

/// Faults seen by the default handler.
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// Installs `handler` for every heap in the program. Takes effect for the next detection.
pub fn set_handler(handler: Handler) {
    HANDLER.store(handler as *mut (), Ordering::Release); // cast-ok: a fn pointer, not an integer
}

/// Restores the default handler (count and ignore).
pub fn reset_handler() {
    HANDLER.store(ptr::null_mut(), Ordering::Release);
}

/// How many faults the default handler has seen (faults passed to a user handler are not
/// counted here).
///
/// The count is kept with an atomic load and store (no read-modify-write, so that it works on
/// every target): two heaps under different locks reporting at the very same time may count
/// once. Per-heap counters, where a heap has them, are exact.
pub fn count() -> usize {
    COUNT.load(Ordering::Relaxed)
}

/// The default handler: counts the fault; the heap then ignores the call.
extern "C" fn default_handler(_fault: &Fault) {
    COUNT.store(COUNT.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// Reports a fault to the installed handler. Called by the heaps after a failed check and
/// before returning without writing.
#[cold]
#[inline(never)]
pub(crate) fn report(heap: HeapKind, kind: FaultKind, addr: usize) {
    let fault = Fault { heap, kind, addr };
    #[cfg(test)]
    tests::note(&fault);
    let p = HANDLER.load(Ordering::Acquire);
    let handler: Handler = if p.is_null() {
        default_handler
    } else {
        // SAFETY: the only non-null values ever stored are `Handler` function pointers cast to
        // `*mut ()` by `set_handler`; casting back gives the same function pointer.
        unsafe { core::mem::transmute::<*mut (), Handler>(p) }
    };
    handler(&fault);
}

#[cfg(test)]
pub(crate) mod tests {
    //! A per-thread record of the faults reported, so unit tests running in parallel can each
    //! see their own detections.

    use super::*;
    use std::cell::RefCell;
    use std::vec::Vec;

    std::thread_local! {
        static SEEN: RefCell<Vec<Fault>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn note(fault: &Fault) {
        SEEN.with(|s| s.borrow_mut().push(*fault));
    }

    /// The faults reported on this thread since the last call.
    pub(crate) fn take() -> Vec<Fault> {
        SEEN.with(|s| core::mem::take(&mut *s.borrow_mut()))
    }

    #[test]
    fn report_without_handler_counts() {
        let before = count();
        report(HeapKind::Tlsf, FaultKind::Outside, 0x10);
        assert!(count() > before);
        assert_eq!(take(), [Fault { heap: HeapKind::Tlsf, kind: FaultKind::Outside, addr: 0x10 }]);
    }

    /// Frees `p` twice and checks that the second free reached the handler as `kind` from
    /// `heap`, at `p`.
    fn double_free_is_reported<H: crate::Heap>(h: &mut H, heap: HeapKind) {
        let l = core::alloc::Layout::from_size_align(24, 8).unwrap();
        // A second live block keeps the slab of `p` alive (an empty slab is given back).
        let (keep, p) = (h.allocate(l).unwrap(), h.allocate(l).unwrap());
        let _ = take();
        // SAFETY: `p` is live; the second free is the deliberate bug under test.
        unsafe {
            h.deallocate(p, l);
            h.deallocate(p, l);
        }
        let kind = FaultKind::NotAllocated;
        assert_eq!(take(), [Fault { heap, kind, addr: p.as_ptr().addr() }]);
        h.validate().unwrap();
        // SAFETY: `keep` is live.
        unsafe { h.deallocate(keep, l) };
        assert_eq!(take(), []);
    }

    #[test]
    fn every_heap_reports_double_free_to_the_handler() {
        use crate::test_util::region;
        use crate::{Claim, FirstFit, Slab, Tlsf};
        let mut ff = FirstFit::new();
        ff.claim(region(1024)).unwrap();
        double_free_is_reported(&mut ff, HeapKind::FirstFit);
        let mut tlsf = Tlsf::new();
        tlsf.claim(region(4096)).unwrap();
        double_free_is_reported(&mut tlsf, HeapKind::Tlsf);
        let mut slab: Slab<FirstFit> = Slab::new(FirstFit::new());
        slab.claim(region(16384)).unwrap();
        double_free_is_reported(&mut slab, HeapKind::Slab);
        assert_eq!(slab.invalid_frees(), 1, "the per-heap counter is kept");
    }

    #[test]
    fn bump_reports_free_outside_its_region() {
        use crate::{Bump, Claim, Heap};
        let mut b = Bump::new();
        b.claim(crate::test_util::region(256)).unwrap();
        let mut local = 0u64;
        let p = core::ptr::NonNull::from(&mut local).cast::<u8>();
        let _ = take();
        // SAFETY: deliberately invalid: a pointer the bump never handed out, outside its region.
        unsafe { b.deallocate(p, core::alloc::Layout::new::<u64>()) };
        let kind = FaultKind::Outside;
        assert_eq!(take(), [Fault { heap: HeapKind::Bump, kind, addr: p.as_ptr().addr() }]);
    }

    #[test]
    fn display_names_heap_kind_and_address() {
        let f = Fault { heap: HeapKind::FirstFit, kind: FaultKind::NotAllocated, addr: 0x20 };
        assert_eq!(std::format!("{f}"), "FirstFit: block not allocated (double free?) at 0x20");
    }
}
