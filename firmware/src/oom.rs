//! Out of memory through the global allocator: [`Locked`] returns null when the heap is
//! exhausted (never panics, never waits), a failed `realloc` keeps the old block, and once
//! blocks are freed the heap serves exactly as much as before.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use bareheap::{CriticalSection, HeapMemory, Locked};

use crate::heaps::UnderTest;
use crate::runner::{Failed, Outcome, Test};
use crate::stress::Arena;
use crate::{ensure, hprintln, pattern};

/// A heap installed as a `#[global_allocator]`, with what the checks need to know about it.
pub struct Global<H: 'static> {
    /// The global allocator.
    pub heap: &'static Locked<CriticalSection, H>,
    /// Where its memory is.
    pub arena: Arena,
    /// What `claim` returned.
    pub capacity: usize,
}

impl<H: UnderTest> Global<H> {
    /// Gives `memory` to `heap`.
    ///
    /// # Panics
    ///
    /// If the memory was taken before or the heap refuses it (the test cannot start).
    pub fn claim<const N: usize>(
        heap: &'static Locked<CriticalSection, H>,
        memory: &'static HeapMemory<N>,
    ) -> Self
    where
        H: Send,
    {
        let region = memory.take().expect("the heap memory is taken once, here");
        let arena = Arena::of(&region);
        let capacity = match heap.claim(region) {
            Ok(n) => n,
            Err(e) => panic!("{} refused its region: {}", H::NAME, e),
        };
        hprintln!("{} (global allocator): {} bytes donated, capacity {}", H::NAME, N, capacity);
        Global { heap, arena, capacity }
    }

    /// Runs `validate()` inside the lock.
    ///
    /// # Errors
    ///
    /// [`Failed`] if the lock was busy or the heap reports corruption (printed).
    pub fn validate(&self) -> Outcome {
        let result = self.heap.lock(|h| h.validate());
        ensure!(matches!(result, Some(Ok(()))), "validate(): {:?}", result);
        Ok(())
    }
}

/// The generic out-of-memory tests.
pub fn tests<H: UnderTest + Send>() -> [Test<Global<H>>; 3] {
    [
        Test {
            name: "alloc_until_exhausted_returns_null_then_heap_recovers",
            run: alloc_until_exhausted_returns_null_then_heap_recovers::<H>,
        },
        Test {
            name: "realloc_beyond_capacity_returns_null_and_keeps_block",
            run: realloc_beyond_capacity_returns_null_and_keeps_block::<H>,
        },
        Test {
            name: "alloc_alignment_beyond_arena_returns_null",
            run: alloc_alignment_beyond_arena_returns_null::<H>,
        },
    ]
}

/// Defines a whole out-of-memory program: `$heap` (built by the const expression `$init`)
/// as the global allocator over half the board's arena, running [`tests`] and a test of
/// `Vec::try_reserve` beyond the capacity as the suite `$suite`. (A macro, not a function:
/// the `alloc` collections need the program's `#[global_allocator]`, which the library
/// cannot name.)
///
/// ```ignore
/// firmware::oom_program!("tlsf_oom", bareheap::Tlsf, bareheap::Tlsf::new());
/// ```
#[macro_export]
macro_rules! oom_program {
    ($suite:literal, $heap:ty, $init:expr) => {
        extern crate alloc;

        static MEMORY: $crate::bareheap::HeapMemory<{ $crate::board::ARENA / 2 }> =
            $crate::bareheap::HeapMemory::new();

        #[global_allocator]
        static HEAP: $crate::bareheap::Locked<$crate::bareheap::CriticalSection, $heap> =
            $crate::bareheap::Locked::new($init);

        #[$crate::entry]
        fn main() -> ! {
            let mut global = $crate::oom::Global::claim(&HEAP, &MEMORY);
            let own = [$crate::runner::Test {
                name: "vec_try_reserve_beyond_capacity_errs_gracefully",
                run: vec_try_reserve_beyond_capacity_errs_gracefully,
            }];
            $crate::runner::run_tables($suite, &mut global, &[&$crate::oom::tests(), &own])
        }

        fn vec_try_reserve_beyond_capacity_errs_gracefully(
            g: &mut $crate::oom::Global<$heap>,
        ) -> $crate::runner::Outcome {
            let mut v: alloc::vec::Vec<u32> = (0..100).collect();
            let too_many = g.capacity; // 4 bytes each: four times the heap
            let err = v.try_reserve(too_many);
            $crate::hprintln!("    try_reserve({} more u32) -> {:?}", too_many, err);
            $crate::ensure!(
                err.is_err(),
                "reserving {} bytes succeeded on a {} byte heap",
                too_many * 4,
                g.capacity
            );
            let overflow = v.try_reserve(usize::MAX);
            $crate::hprintln!("    try_reserve(usize::MAX) -> {:?}", overflow);
            $crate::ensure!(overflow.is_err(), "reserving usize::MAX elements succeeded");
            $crate::ensure!(
                v.iter().copied().eq(0..100),
                "the vector changed after failed reservations"
            );
            v.push(100);
            $crate::ensure!(
                v.len() == 101 && v[100] == 100,
                "the vector is unusable after failed reservations"
            );
            drop(v);
            g.validate()
        }
    };
}

/// Most blocks [`fill_until_null`] keeps track of.
const MAX_BLOCKS: usize = 320;

/// Allocates `layout` blocks until the allocator returns null; each block is filled with the
/// pattern of its index. Returns how many it got.
fn fill_until_null<H: UnderTest + Send>(
    g: &Global<H>,
    layout: Layout,
    blocks: &mut [Option<NonNull<u8>>],
    first: usize,
) -> Result<usize, Failed> {
    let mut n = 0;
    while let Some(slot) = blocks.get_mut(first + n) {
        // SAFETY: `layout` has a non-zero size (callers pass 32 or more bytes).
        let Some(ptr) = NonNull::new(unsafe { g.heap.alloc(layout) }) else {
            return Ok(n);
        };
        ensure!(g.arena.holds(ptr, layout.size()), "block {:p} outside the arena", ptr);
        ensure!(ptr.as_ptr().addr().is_multiple_of(layout.align()), "block {:p} misaligned", ptr);
        // SAFETY: the allocator returned `ptr` for `layout`.
        unsafe { pattern::fill(ptr, layout.size(), (first + n) as u32) };
        *slot = Some(ptr);
        n += 1;
    }
    ensure!(false, "more than {} blocks: the heap never ran out", blocks.len());
    Err(Failed)
}

/// Checks and frees `blocks` newest first.
fn check_and_free_all<H: UnderTest + Send>(
    g: &Global<H>,
    blocks: &mut [Option<NonNull<u8>>],
    layout_of: impl Fn(usize) -> Layout,
) -> Outcome {
    for (i, slot) in blocks.iter_mut().enumerate().rev() {
        if let Some(ptr) = slot.take() {
            let layout = layout_of(i);
            // SAFETY: block `i` was allocated with `layout` and filled with pattern `i`.
            let check = unsafe { pattern::check(ptr, layout.size(), i as u32) };
            ensure!(check.is_ok(), "block {} at {:p} corrupt at offset {:?}", i, ptr, check);
            // SAFETY: allocated by this allocator with `layout`; the slot was emptied, so
            // this is its only free.
            unsafe { g.heap.dealloc(ptr.as_ptr(), layout) };
        }
    }
    // SAFETY: the caller's blocks were all freed above and are not used again; the tests
    // using this keep no other block alive.
    g.heap.lock(|h| unsafe { h.drained() });
    Ok(())
}

fn alloc_until_exhausted_returns_null_then_heap_recovers<H: UnderTest + Send>(
    g: &mut Global<H>,
) -> Outcome {
    const BIG: Layout = Layout::new::<[u64; 128]>(); // 1 KiB
    const SMALL: Layout = Layout::new::<[u32; 8]>(); // 32 bytes
    let mut blocks = [None; MAX_BLOCKS];
    let big = fill_until_null(g, BIG, &mut blocks, 0)?;
    let small = fill_until_null(g, SMALL, &mut blocks, big)?;
    hprintln!("    exhausted after {} x 1 KiB + {} x 32 bytes", big, small);
    ensure!(big >= 1, "not even one 1 KiB block from a {} byte heap", g.capacity);
    // SAFETY: non-zero size.
    let again = unsafe { g.heap.alloc(SMALL) };
    ensure!(again.is_null(), "an exhausted heap served a block");
    g.validate()?;
    check_and_free_all(g, &mut blocks, |i| if i < big { BIG } else { SMALL })?;
    g.validate()?;
    let big_again = fill_until_null(g, BIG, &mut blocks, 0)?;
    hprintln!("    after freeing everything: {} x 1 KiB again", big_again);
    ensure!(big_again == big, "{} 1 KiB blocks after recovery, {} before", big_again, big);
    check_and_free_all(g, &mut blocks, |_| BIG)?;
    g.validate()
}

fn realloc_beyond_capacity_returns_null_and_keeps_block<H: UnderTest + Send>(
    g: &mut Global<H>,
) -> Outcome {
    let layout = Layout::new::<[u8; 64]>();
    // SAFETY: non-zero size.
    let Some(ptr) = NonNull::new(unsafe { g.heap.alloc(layout) }) else {
        ensure!(false, "an empty heap could not serve 64 bytes");
        return Err(Failed);
    };
    // SAFETY: allocated for 64 bytes.
    unsafe { pattern::fill(ptr, 64, 0xA110C) };
    let huge = g.capacity.saturating_mul(2);
    // SAFETY: `ptr` is allocated with `layout`; `huge` rounded up to 1 does not overflow
    // `isize` (it is twice a 32-bit heap's capacity).
    let moved = unsafe { g.heap.realloc(ptr.as_ptr(), layout, huge) };
    ensure!(moved.is_null(), "realloc to {} bytes succeeded on a {} byte heap", huge, g.capacity);
    // SAFETY: the failed realloc left the block allocated and untouched.
    let check = unsafe { pattern::check(ptr, 64, 0xA110C) };
    ensure!(check.is_ok(), "block changed by a failed realloc at offset {:?}", check);
    // SAFETY: still allocated with `layout`.
    unsafe { g.heap.dealloc(ptr.as_ptr(), layout) };
    // SAFETY: the test's only block was freed above.
    g.heap.lock(|h| unsafe { h.drained() });
    g.validate()
}

fn alloc_alignment_beyond_arena_returns_null<H: UnderTest + Send>(g: &mut Global<H>) -> Outcome {
    // No address inside the arena is a multiple of 1 GiB (checked below), so no placement can
    // satisfy this request: the heap must say no rather than return a misaligned block.
    const ALIGN: usize = 1 << 30;
    let Ok(layout) = Layout::from_size_align(16, ALIGN) else { return Err(Failed) };
    let first_multiple = g.arena.start().checked_next_multiple_of(ALIGN);
    ensure!(
        first_multiple.is_none_or(|a| a >= g.arena.end()),
        "test precondition: the arena contains a 1 GiB aligned address"
    );
    // SAFETY: non-zero size.
    let ptr = unsafe { g.heap.alloc(layout) };
    ensure!(ptr.is_null(), "a 1 GiB aligned block came back: {:p}", ptr);
    g.validate()
}
