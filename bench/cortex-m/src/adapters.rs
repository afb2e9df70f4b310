//! One [`Allocator`] adapter per allocator under test.
//!
//! | adapter | called through | realloc |
//! | --- | --- | --- |
//! | [`Baseline`] | itself (a 20-line bump; code-size baseline only) | allocate + copy |
//! | [`bareheap_heap!`] adapters | `bareheap::Heap` directly, no lock | `grow` / `shrink` |
//! | [`bareheap_locked!`] adapters | `Locked<CriticalSection, _>` through `GlobalAlloc` | `Locked`'s `realloc` |
//! | [`Talc`] | `talc::Talc<Manual>` directly, no lock | in place, else move |
//! | [`Rlsf`] | `rlsf::Tlsf` directly, no lock | `reallocate` |
//! | [`LinkedList`] | `linked_list_allocator::Heap` directly, no lock | allocate + copy + free |
//! | [`Buddy`] | `buddy_system_allocator::Heap` directly, no lock | allocate + copy + free |
//! | [`EmbeddedLlff`], [`EmbeddedTlsf`] | `GlobalAlloc` only: a critical section per call | `GlobalAlloc`'s default: allocate + copy + free |

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};

use crate::{Allocator, Static};

/// Moves a block the way `GlobalAlloc::realloc`'s default does: allocate, copy, free.
///
/// # Safety
///
/// `ptr` came from `A` with `layout` and is still allocated.
unsafe fn move_block<A: Allocator>(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
    // SAFETY: `new_size` is non-zero and at most MAX_SIZE, so it fits the alignment's rules.
    let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
    let new = A::alloc(new_layout);
    if !new.is_null() {
        // SAFETY: two distinct live blocks, each valid for the bytes copied.
        unsafe { ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        // SAFETY: forwarded caller contract.
        unsafe { A::free(ptr, layout) };
    }
    new
}

/// The code-size baseline: a bump pointer that never frees. It links the same harness as
/// every other binary, so subtracting its sizes leaves the allocator's own code and data.
pub struct Baseline;

struct BumpState {
    base: *mut u8,
    next: usize,
    len: usize,
}

static BUMP: Static<BumpState> = Static::new(BumpState { base: ptr::null_mut(), next: 0, len: 0 });

impl Allocator for Baseline {
    const NAME: &'static str = "baseline";
    const REUSES_MEMORY: bool = false;

    unsafe fn init(arena: *mut u8, len: usize) -> bool {
        // SAFETY: S1.
        let b = unsafe { &mut *BUMP.get() };
        *b = BumpState { base: arena, next: 0, len };
        true
    }

    fn alloc(layout: Layout) -> *mut u8 {
        // SAFETY: S1.
        let b = unsafe { &mut *BUMP.get() };
        let start = b.base.wrapping_add(b.next);
        let pad = start.align_offset(layout.align());
        match b.next.checked_add(pad).and_then(|s| s.checked_add(layout.size())) {
            Some(end) if end <= b.len => {
                b.next = end;
                start.wrapping_add(pad)
            }
            _ => ptr::null_mut(),
        }
    }

    unsafe fn free(_ptr: *mut u8, _layout: Layout) {}

    unsafe fn realloc(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded caller contract.
        unsafe { move_block::<Self>(ptr, layout, new_size) }
    }
}

/// Defines an adapter `$name` for a bareheap heap `$ty` (a `bareheap::Heap + Claim` built by
/// the const expression `$init`), called directly through the `Heap` trait.
#[macro_export]
macro_rules! bareheap_heap {
    ($name:ident, $label:literal, $ty:ty, $init:expr, reuses_memory = $reuses:literal) => {
        /// Adapter for a bareheap heap, called through `bareheap::Heap` without a lock.
        pub struct $name;

        const _: () = {
            use ::core::alloc::Layout;
            use ::core::ptr::{self, NonNull};
            use $crate::bareheap::{Claim, Heap, Region};

            static HEAP: $crate::Static<$ty> = $crate::Static::new($init);

            impl $crate::Allocator for $name {
                const NAME: &'static str = $label;
                const REUSES_MEMORY: bool = $reuses;

                unsafe fn init(arena: *mut u8, len: usize) -> bool {
                    // SAFETY: caller contract: the arena is valid, unused memory forever.
                    let Ok(region) = (unsafe { Region::new(arena, len) }) else {
                        return false;
                    };
                    // SAFETY: S1.
                    unsafe { &mut *HEAP.get() }.claim(region).is_ok()
                }

                fn alloc(layout: Layout) -> *mut u8 {
                    // SAFETY: S1.
                    let heap = unsafe { &mut *HEAP.get() };
                    heap.allocate(layout).map_or(ptr::null_mut(), NonNull::as_ptr)
                }

                unsafe fn free(ptr: *mut u8, layout: Layout) {
                    // SAFETY: S1.
                    let heap = unsafe { &mut *HEAP.get() };
                    // SAFETY: caller contract; blocks are never null.
                    unsafe { heap.deallocate(NonNull::new_unchecked(ptr), layout) }
                }

                unsafe fn realloc(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                    // SAFETY: S1.
                    let heap = unsafe { &mut *HEAP.get() };
                    // SAFETY: caller contract; blocks are never null.
                    let block = unsafe { NonNull::new_unchecked(ptr) };
                    let moved = if new_size > layout.size() {
                        // SAFETY: caller contract, and the size grows.
                        unsafe { heap.grow(block, layout, new_size) }
                    } else if new_size < layout.size() {
                        // SAFETY: caller contract, and the size shrinks.
                        unsafe { heap.shrink(block, layout, new_size) }
                    } else {
                        Some(block)
                    };
                    moved.map_or(ptr::null_mut(), NonNull::as_ptr)
                }

                fn validate() -> bool {
                    // SAFETY: S1.
                    unsafe { &*HEAP.get() }.validate().is_ok()
                }
            }
        };
    };
}

/// Defines an adapter `$name` for a bareheap heap `$ty` behind
/// `Locked<CriticalSection, $ty>`, called through `GlobalAlloc`: what firmware with
/// `#[global_allocator]` runs, and the like-for-like row for embedded-alloc.
#[macro_export]
macro_rules! bareheap_locked {
    ($name:ident, $label:literal, $ty:ty, $init:expr) => {
        /// Adapter for a bareheap heap behind `Locked<CriticalSection, _>`, through `GlobalAlloc`.
        pub struct $name;

        const _: () = {
            use ::core::alloc::{GlobalAlloc, Layout};
            use $crate::bareheap::{CriticalSection, Locked, Region};

            static HEAP: Locked<CriticalSection, $ty> = Locked::new($init);

            impl $crate::Allocator for $name {
                const NAME: &'static str = $label;

                unsafe fn init(arena: *mut u8, len: usize) -> bool {
                    // SAFETY: caller contract: the arena is valid, unused memory forever.
                    let Ok(region) = (unsafe { Region::new(arena, len) }) else {
                        return false;
                    };
                    HEAP.claim(region).is_ok()
                }

                fn alloc(layout: Layout) -> *mut u8 {
                    // SAFETY: non-zero size (the workload guarantees it).
                    unsafe { GlobalAlloc::alloc(&HEAP, layout) }
                }

                unsafe fn free(ptr: *mut u8, layout: Layout) {
                    // SAFETY: caller contract.
                    unsafe { GlobalAlloc::dealloc(&HEAP, ptr, layout) }
                }

                unsafe fn realloc(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                    // SAFETY: caller contract; `new_size` is non-zero and fits the alignment.
                    unsafe { GlobalAlloc::realloc(&HEAP, ptr, layout, new_size) }
                }

                fn validate() -> bool {
                    HEAP.lock(|h| $crate::bareheap::Heap::validate(h).is_ok()) == Some(true)
                }
            }
        };
    };
}

/// talc 5, `Talc<Manual, DefaultBinning>` called directly.
pub struct Talc;

static TALC: Static<talc::base::Talc<talc::source::Manual, talc::DefaultBinning>> =
    Static::new(talc::base::Talc::new(talc::source::Manual));

impl Allocator for Talc {
    const NAME: &'static str = "talc";

    unsafe fn init(arena: *mut u8, len: usize) -> bool {
        // SAFETY: S1; the arena is valid, unused memory forever (caller contract).
        unsafe { (*TALC.get()).claim(arena, len) }.is_some()
    }

    fn alloc(layout: Layout) -> *mut u8 {
        // SAFETY: S1; talc needs a non-zero size, which the workload guarantees.
        unsafe { (*TALC.get()).allocate(layout) }.map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn free(ptr: *mut u8, layout: Layout) {
        // SAFETY: S1 and the caller contract.
        unsafe { (*TALC.get()).deallocate(ptr, layout) }
    }

    unsafe fn realloc(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // What talc's own `GlobalAlloc::realloc` does, without its lock.
        // SAFETY: S1 and the caller contract; `new_size` is non-zero.
        if unsafe { (*TALC.get()).try_realloc_in_place(ptr, layout, new_size) } {
            return ptr;
        }
        // SAFETY: forwarded caller contract.
        unsafe { move_block::<Self>(ptr, layout, new_size) }
    }
}

/// rlsf 0.2 `Tlsf` called directly, configured for a 32 KiB arena: 12 first-level classes
/// (blocks up to 64 KiB) of 16 second-level classes each.
pub struct Rlsf;

type RlsfTlsf = rlsf::Tlsf<'static, u16, u16, 12, 16>;

static RLSF: Static<RlsfTlsf> = Static::new(RlsfTlsf::new());

impl Allocator for Rlsf {
    const NAME: &'static str = "rlsf";

    unsafe fn init(arena: *mut u8, len: usize) -> bool {
        let Some(base) = NonNull::new(arena) else { return false };
        // SAFETY: S1; the arena is valid, unused memory forever (caller contract).
        unsafe { (*RLSF.get()).insert_free_block_ptr(NonNull::slice_from_raw_parts(base, len)) }
            .is_some()
    }

    fn alloc(layout: Layout) -> *mut u8 {
        // SAFETY: S1.
        unsafe { (*RLSF.get()).allocate(layout) }.map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn free(ptr: *mut u8, layout: Layout) {
        // SAFETY: S1 and the caller contract; blocks are never null.
        unsafe { (*RLSF.get()).deallocate(NonNull::new_unchecked(ptr), layout.align()) }
    }

    unsafe fn realloc(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `new_size` is non-zero and at most MAX_SIZE.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: S1 and the caller contract; blocks are never null; same alignment.
        unsafe { (*RLSF.get()).reallocate(NonNull::new_unchecked(ptr), new_layout) }
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }
}

/// linked_list_allocator 0.10 `Heap` called directly; it has no realloc of its own.
pub struct LinkedList;

static LLA: Static<linked_list_allocator::Heap> = Static::new(linked_list_allocator::Heap::empty());

impl Allocator for LinkedList {
    const NAME: &'static str = "linked_list_allocator";

    unsafe fn init(arena: *mut u8, len: usize) -> bool {
        // SAFETY: S1; the arena is valid, unused memory forever (caller contract).
        unsafe { (*LLA.get()).init(arena, len) };
        true
    }

    fn alloc(layout: Layout) -> *mut u8 {
        // SAFETY: S1.
        unsafe { (*LLA.get()).allocate_first_fit(layout) }.map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn free(ptr: *mut u8, layout: Layout) {
        // SAFETY: S1 and the caller contract; blocks are never null.
        unsafe { (*LLA.get()).deallocate(NonNull::new_unchecked(ptr), layout) }
    }

    unsafe fn realloc(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded caller contract.
        unsafe { move_block::<Self>(ptr, layout, new_size) }
    }
}

/// buddy_system_allocator 0.13 `Heap<16>` (blocks up to 32 KiB) called directly; it has no
/// realloc of its own.
pub struct Buddy;

static BUDDY: Static<buddy_system_allocator::Heap<16>> =
    Static::new(buddy_system_allocator::Heap::new());

impl Allocator for Buddy {
    const NAME: &'static str = "buddy_system_allocator";

    unsafe fn init(arena: *mut u8, len: usize) -> bool {
        // The API takes addresses; expose the arena's provenance so they may be used.
        let start = arena.expose_provenance();
        // SAFETY: S1; the arena is valid, unused memory forever (caller contract).
        unsafe { (*BUDDY.get()).init(start, len) };
        true
    }

    fn alloc(layout: Layout) -> *mut u8 {
        // SAFETY: S1.
        unsafe { (*BUDDY.get()).alloc(layout) }.map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn free(ptr: *mut u8, layout: Layout) {
        // SAFETY: S1 and the caller contract; blocks are never null.
        unsafe { (*BUDDY.get()).dealloc(NonNull::new_unchecked(ptr), layout) }
    }

    unsafe fn realloc(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded caller contract.
        unsafe { move_block::<Self>(ptr, layout, new_size) }
    }
}

/// Adapter for an embedded-alloc heap: only `GlobalAlloc` is public, so every call takes a
/// critical section (cortex-m's single-core implementation: save PRIMASK, `cpsid i`, restore;
/// on RISC-V the `riscv` crate's single-hart one: clear and restore `mstatus.MIE`).
macro_rules! embedded_alloc_heap {
    ($name:ident, $label:literal, $static:ident, $ty:ty) => {
        #[doc = concat!("embedded-alloc 0.7 `", stringify!($ty), "` through `GlobalAlloc`.")]
        pub struct $name;

        static $static: $ty = <$ty>::empty();

        impl Allocator for $name {
            const NAME: &'static str = $label;

            unsafe fn init(arena: *mut u8, len: usize) -> bool {
                // The API takes an address; expose the arena's provenance so it may be used.
                let start = arena.expose_provenance();
                // SAFETY: called once; the arena is valid, unused memory forever.
                unsafe { $static.init(start, len) };
                true
            }

            fn alloc(layout: Layout) -> *mut u8 {
                // SAFETY: non-zero size (the workload guarantees it).
                unsafe { GlobalAlloc::alloc(&$static, layout) }
            }

            unsafe fn free(ptr: *mut u8, layout: Layout) {
                // SAFETY: caller contract.
                unsafe { GlobalAlloc::dealloc(&$static, ptr, layout) }
            }

            unsafe fn realloc(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                // SAFETY: caller contract; `new_size` is non-zero and fits the alignment.
                unsafe { GlobalAlloc::realloc(&$static, ptr, layout, new_size) }
            }
        }
    };
}

embedded_alloc_heap!(EmbeddedLlff, "embedded-alloc LlffHeap", EA_LLFF, embedded_alloc::LlffHeap);
embedded_alloc_heap!(EmbeddedTlsf, "embedded-alloc TlsfHeap", EA_TLSF, embedded_alloc::TlsfHeap);
