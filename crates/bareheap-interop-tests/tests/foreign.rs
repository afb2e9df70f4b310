//! `Foreign` over a C allocator: the simulated kmalloc (8-byte alignment, flags, failure
//! injection) and the system malloc/free/aligned_alloc.

use core::alloc::Layout;

use bareheap::{Foreign, Heap, Locked, Slab, Spin};
use bareheap_interop_tests::{
    Sim, SimKmalloc, SystemAlignedMalloc, SystemMalloc, GFP_ATOMIC, GFP_KERNEL,
};

fn l(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// Every alignment up to 64 KiB and a spread of sizes, written and checked, then freed.
fn exercise<F: bareheap::ForeignAlloc>(heap: &mut Foreign<F>) {
    let mut blocks = Vec::new();
    for align_log2 in 0..17 {
        for size in [0usize, 1, 7, 8, 9, 24, 100, 1000, 4097] {
            let layout = l(size, 1 << align_log2);
            let p = heap.allocate(layout).expect("allocation");
            assert_eq!(p.as_ptr() as usize % layout.align(), 0, "{layout:?}");
            // SAFETY: the block is `size` bytes, ours.
            unsafe { p.as_ptr().write_bytes(align_log2 as u8, size) };
            blocks.push((p, layout, align_log2 as u8));
        }
    }
    heap.validate().unwrap();
    for (p, layout, tag) in blocks {
        // SAFETY: reading back what was written.
        let bytes = unsafe { core::slice::from_raw_parts(p.as_ptr(), layout.size()) };
        assert!(bytes.iter().all(|&b| b == tag));
        // SAFETY: allocated above with `layout`.
        unsafe { heap.deallocate(p, layout) };
    }
    assert_eq!(heap.live(), 0);
    assert_eq!(heap.invalid_frees(), 0);
    heap.validate().unwrap();
}

#[test]
fn sim_kmalloc_every_alignment_is_met_and_no_canary_is_hit() {
    let sim = Sim::take();
    let base = sim.state();
    let mut heap: Foreign<SimKmalloc> = Foreign::new(GFP_KERNEL);
    exercise(&mut heap);
    let s = sim.state();
    assert_eq!((s.live, s.bad_frees, s.damaged), (base.live, base.bad_frees, 0));
}

#[test]
fn sim_kmalloc_returns_8_mod_16_and_foreign_fixes_16() {
    let sim = Sim::take();
    let mut heap: Foreign<SimKmalloc> = Foreign::new(GFP_KERNEL);
    let p8 = heap.allocate(l(32, 8)).unwrap();
    assert_eq!(p8.as_ptr() as usize % 16, 8, "the shim really gives only 8-byte alignment");
    let p16 = heap.allocate(l(32, 16)).unwrap();
    assert_eq!(p16.as_ptr() as usize % 16, 0);
    // SAFETY: allocated above.
    unsafe {
        heap.deallocate(p8, l(32, 8));
        heap.deallocate(p16, l(32, 16));
    }
    assert_eq!(sim.state().bad_frees, 0);
}

#[test]
fn sim_kmalloc_sees_the_flags_per_heap_and_per_call() {
    let sim = Sim::take();
    let mut heap: Foreign<SimKmalloc> = Foreign::new(GFP_KERNEL);
    let a = heap.allocate(l(8, 8)).unwrap();
    assert_eq!(sim.state().last_flags, GFP_KERNEL);
    let b = heap.allocate_with(l(8, 4096), GFP_ATOMIC).unwrap();
    assert_eq!(sim.state().last_flags, GFP_ATOMIC);
    heap.set_flags(GFP_ATOMIC);
    let c = heap.allocate(l(8, 8)).unwrap();
    assert_eq!(sim.state().last_flags, GFP_ATOMIC);
    // SAFETY: allocated above with these layouts.
    unsafe {
        heap.deallocate(a, l(8, 8));
        heap.deallocate(b, l(8, 4096));
        heap.deallocate(c, l(8, 8));
    }
    assert_eq!(sim.state().bad_frees, 0);
}

#[test]
fn sim_kmalloc_failure_injection_gives_none() {
    let sim = Sim::take();
    let before = sim.state().live;
    let mut heap: Foreign<SimKmalloc> = Foreign::new(GFP_KERNEL);
    sim.fail_after(Some(2));
    let a = heap.allocate(l(64, 8)).unwrap();
    let b = heap.allocate(l(64, 256)).unwrap();
    assert!(heap.allocate(l(64, 8)).is_none());
    assert!(heap.allocate(l(64, 256)).is_none());
    assert_eq!(heap.live(), 2);
    sim.fail_after(None);
    // SAFETY: allocated above.
    unsafe {
        heap.deallocate(a, l(64, 8));
        heap.deallocate(b, l(64, 256));
    }
    assert_eq!(sim.state().live, before);
}

#[test]
fn sim_kmalloc_huge_layouts_fail_cleanly() {
    let sim = Sim::take();
    let mut heap: Foreign<SimKmalloc> = Foreign::new(GFP_KERNEL);
    let calls = sim.state().calls;
    for align_log2 in 0..usize::BITS - 1 {
        let align = 1usize << align_log2;
        let Ok(layout) = Layout::from_size_align(isize::MAX as usize - align + 1, align) else {
            continue;
        };
        assert!(heap.allocate(layout).is_none(), "{layout:?}");
    }
    // Requests that would overflow never reach the C side as a wrapped, small size.
    assert!(sim.state().calls - calls <= usize::BITS as usize);
    assert_eq!(heap.live(), 0);
}

#[test]
fn slab_over_sim_kmalloc_in_a_locked_global_allocator() {
    use core::alloc::GlobalAlloc;
    let sim = Sim::take();
    let before = sim.state().live;
    let heap: Locked<Spin, Slab<Foreign<SimKmalloc>>> =
        Locked::new(Slab::new(Foreign::new(GFP_KERNEL)));
    let mut v = Vec::new();
    for i in 0..3000 {
        let layout = l(1 + i % 700, 1 << (i % 5));
        // SAFETY: non-zero size.
        let p = unsafe { heap.alloc(layout) };
        assert!(!p.is_null());
        v.push((p, layout));
    }
    for (p, layout) in v {
        // SAFETY: allocated above with `layout`.
        unsafe { heap.dealloc(p, layout) };
    }
    heap.lock(|h| {
        h.trim();
        assert_eq!(h.invalid_frees(), 0);
        h.validate().unwrap();
    });
    let s = sim.state();
    assert_eq!((s.live, s.bad_frees, s.damaged), (before, 0, 0));
}

#[test]
fn system_malloc_every_alignment_is_met() {
    let mut heap: Foreign<SystemMalloc> = Foreign::new(());
    exercise(&mut heap);
}

#[test]
fn system_aligned_alloc_every_alignment_is_met() {
    let mut heap: Foreign<SystemAlignedMalloc> = Foreign::new(());
    exercise(&mut heap);
}
