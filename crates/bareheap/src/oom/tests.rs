use core::alloc::GlobalAlloc;
use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::vec::Vec;

use super::*;
use crate::test_util::{region, thread_id, MultiBump};
use crate::{Bump, Counted, HeapCell, Locked, Spin};

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

#[test]
fn hook_that_adds_a_region_makes_the_retry_succeed() {
    let calls = Cell::new(0);
    let mut heap = OnOom::new(Bump::new(), |bump: &mut Bump, failed: Layout| {
        calls.set(calls.get() + 1);
        assert_eq!(failed, layout(100));
        bump.claim(region(1024)).is_ok()
    });
    let p = heap.allocate(layout(100));
    assert!(p.is_some());
    assert_eq!(calls.get(), 1);
    assert!(heap.allocate(layout(100)).is_some(), "no hook call while memory lasts");
    assert_eq!(calls.get(), 1);
    assert!(heap.validate().is_ok());
}

#[test]
fn hook_is_called_once_per_failure_and_never_loops() {
    let calls = Cell::new(0);
    // Claims that it helped but adds nothing: the retry fails and nothing loops.
    let mut heap = OnOom::new(Bump::new(), |_: &mut Bump, _| {
        calls.set(calls.get() + 1);
        true
    });
    assert!(heap.allocate(layout(8)).is_none());
    assert_eq!(calls.get(), 1);
    assert!(heap.allocate(layout(8)).is_none());
    assert_eq!(calls.get(), 2);
}

#[test]
fn hook_returning_false_skips_the_retry() {
    let attempts = Cell::new(0);
    struct CountingHeap<'a>(Bump, &'a Cell<u32>);
    // SAFETY: forwards to `Bump`.
    unsafe impl Heap for CountingHeap<'_> {
        fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
            self.1.set(self.1.get() + 1);
            self.0.allocate(layout)
        }
        unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
            // SAFETY: forwarded caller contract.
            unsafe { self.0.deallocate(ptr, layout) }
        }
        fn validate(&self) -> Result<(), Corruption> {
            self.0.validate()
        }
    }
    let mut heap = OnOom::new(CountingHeap(Bump::new(), &attempts), |_: &mut _, _| false);
    assert!(heap.allocate(layout(8)).is_none());
    assert_eq!(attempts.get(), 1, "no retry after `false`");
}

#[test]
fn cat_e1_exhaustion_with_hook_returns_none_and_heap_stays_usable() {
    let spent = Cell::new(false);
    let mut heap = Counted::new(OnOom::new(MultiBump::new(), |h: &mut MultiBump, _| {
        !spent.replace(true) && h.claim(region(256)).is_ok()
    }));
    heap.claim(region(256)).unwrap();
    let mut blocks = Vec::new();
    while let Some(p) = heap.allocate(layout(64)) {
        blocks.push(p);
    }
    assert_eq!(blocks.len(), 8, "256 bytes + 256 from the hook");
    assert!(heap.allocate(layout(64)).is_none());
    assert_eq!(heap.counters().failures, 2);
    // SAFETY: the last block is live with `layout(64)`.
    unsafe { heap.deallocate(blocks.pop().unwrap(), layout(64)) };
    assert!(heap.allocate(layout(64)).is_some(), "usable after the failure");
    assert!(heap.validate().is_ok());
}

#[test]
fn failed_grow_calls_the_hook_and_retries_the_grow() {
    let calls = Cell::new(0);
    let mut heap = OnOom::new(MultiBump::new(), |h: &mut MultiBump, failed: Layout| {
        calls.set(calls.get() + 1);
        assert_eq!(failed, layout(600));
        h.claim(region(1024)).is_ok()
    });
    heap.claim(region(512)).unwrap();
    let p = heap.allocate(layout(400)).unwrap();
    // SAFETY: `p` is live and holds 400 bytes; it is freed with its final layout.
    unsafe {
        p.as_ptr().write_bytes(0xA5, 400);
        let q = heap.grow(p, layout(400), 600).unwrap();
        assert_eq!(calls.get(), 1);
        assert!((0..400).all(|i| q.as_ptr().add(i).read() == 0xA5), "contents moved");
        heap.deallocate(q, layout(600));
    }
}

/// E5/F4: a hook that tries the allocator it runs inside (the test's own `Locked`, not the
/// process's global allocator) gets null, does not deadlock and does not corrupt the heap.
#[test]
fn cat_e5_hook_allocating_through_its_own_spin_locked_heap_gets_null() {
    static SEEN: AtomicPtr<u8> = AtomicPtr::new(ptr::dangling_mut());
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    fn hook(heap: &mut Bump, _: Layout) -> bool {
        CALLS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: non-zero size; a null result is not freed.
        let p = unsafe { HEAP.alloc(Layout::new::<u64>()) };
        SEEN.store(p, Ordering::Relaxed);
        heap.claim(region(1024)).is_ok()
    }
    static HEAP: Locked<Spin, OnOom<Bump>> =
        Locked::with_lock(Spin::with_core_id(thread_id), OnOom::new(Bump::new(), hook));

    let l = Layout::new::<[u8; 100]>();
    // SAFETY: non-zero size; freed with the same layout.
    let p = unsafe { HEAP.alloc(l) };
    assert_eq!(CALLS.load(Ordering::Relaxed), 1);
    assert!(SEEN.load(Ordering::Relaxed).is_null(), "re-entrant allocation must get null");
    assert!(!p.is_null(), "the hook's region served the retry");
    // SAFETY: `p` is live with `l`.
    unsafe { HEAP.dealloc(p, l) };
    assert_eq!(HEAP.lock(|h| h.validate()), Some(Ok(())));
}

#[cfg(feature = "critical-section")]
#[test]
fn cat_e5_hook_allocating_through_its_own_critical_section_heap_gets_null() {
    use crate::CriticalSection;
    static SEEN: AtomicPtr<u8> = AtomicPtr::new(ptr::dangling_mut());
    fn hook(heap: &mut Bump, _: Layout) -> bool {
        // SAFETY: non-zero size; a null result is not freed.
        SEEN.store(unsafe { HEAP.alloc(Layout::new::<u64>()) }, Ordering::Relaxed);
        heap.claim(region(1024)).is_ok()
    }
    static HEAP: Locked<CriticalSection, OnOom<Bump>> = Locked::new(OnOom::new(Bump::new(), hook));

    let l = Layout::new::<[u8; 100]>();
    // SAFETY: non-zero size.
    let p = unsafe { HEAP.alloc(l) };
    assert!(SEEN.load(Ordering::Relaxed).is_null(), "re-entrant allocation must get null");
    assert!(!p.is_null());
}

/// F4: the same through the single-thread cell: the inner use fails, nothing panics.
#[test]
fn cat_f4_hook_reentering_its_heap_cell_gets_none() {
    type Hooked = OnOom<Bump, fn(&mut Bump, Layout) -> bool>;
    std::thread_local! {
        static CELL: HeapCell<Hooked> = const { HeapCell::new(OnOom::new(Bump::new(), hook)) };
    }
    fn hook(heap: &mut Bump, _: Layout) -> bool {
        let inner = CELL.with(|cell| cell.with(|h| h.allocate(Layout::new::<u64>())));
        assert_eq!(inner, None, "re-entry refused");
        heap.claim(region(256)).is_ok()
    }
    let got = CELL.with(|cell| cell.with(|h| h.allocate(Layout::new::<[u8; 32]>())));
    assert!(matches!(got, Some(Some(_))));
}

#[test]
fn first_fit_hook_adds_regions_on_demand_until_the_supply_runs_out() {
    let supply = Cell::new(3);
    let mut heap =
        Counted::new(OnOom::new(crate::FirstFit::new(), |h: &mut crate::FirstFit, l: Layout| {
            if supply.get() == 0 {
                return false;
            }
            supply.set(supply.get() - 1);
            // Enough for the failed request and more, as a page allocator would give.
            h.claim(region(l.size().max(1024) + 256)).is_ok()
        }));
    let l = layout(700);
    let mut blocks = Vec::new();
    while let Some(p) = heap.allocate(l) {
        blocks.push(p);
    }
    assert_eq!(supply.get(), 0, "every region was used");
    assert_eq!(blocks.len(), 3, "one 700-byte block per 1280-byte region");
    assert_eq!(heap.counters().failures, 1);
    for p in blocks {
        // SAFETY: each block is live with `l`, freed once.
        unsafe { heap.deallocate(p, l) };
    }
    assert!(heap.validate().is_ok());
}
