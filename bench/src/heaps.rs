//! One small trait over every allocator under test, the arena they share, and the registry.
//!
//! Each allocator is called directly through its own `&mut self` API where it has one, so no
//! lock is timed. The exceptions are named in [`NamedAllocator::note`] and end up in the report.
//!
//! # Adding an allocator
//!
//! One line in [`registry`]. A heap of bareheap only needs `Heap + Claim`:
//! `named("bareheap Tlsf", "0.1.0", |a| ours(Tlsf::new(), a), "")`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};

use bareheap::hardened::{Hardened, HardenedTlsf};
use bareheap::{Bump, Claim, FirstFit, FirstFitWith, Heap, Region, Slab, Tlsf};

/// The operations every workload needs, with `GlobalAlloc`-like conventions: null means failure,
/// and a failed `realloc` leaves the old block allocated and untouched.
pub trait BenchHeap {
    /// Allocates a block for `layout` (size > 0), or returns null.
    fn alloc(&mut self, layout: Layout) -> *mut u8;

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// `ptr` was returned by this heap for `layout` (or by `realloc` with `layout.size()` as the
    /// new size) and is not freed yet.
    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout);

    /// Resizes a block to `new_size` (> 0) bytes, keeping the first `min(old, new)` bytes and the
    /// alignment; in place or by moving. Null on failure.
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](BenchHeap::dealloc).
    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8;
}

/// Memory handed to an allocator: page-aligned, pre-faulted, owned by the benchmark.
///
/// The same `Arena` is reused for every allocator of a worker process (one allocator at a time:
/// [`NamedAllocator::make`] borrows it mutably for as long as the heap lives).
pub struct Arena {
    base: NonNull<u8>,
    len: usize,
}

/// Alignment of every arena: a page, so that no allocator gains from a luckier base.
pub const ARENA_ALIGN: usize = 4096;

impl Arena {
    /// Allocates `len` bytes from the system and writes every page once, so that page faults
    /// are not charged to the first allocator that touches them.
    pub fn new(len: usize) -> Arena {
        let layout = Layout::from_size_align(len, ARENA_ALIGN).expect("arena layout");
        // SAFETY: `len > 0` (every workload asks for megabytes).
        let base = unsafe { System.alloc(layout) };
        let base = NonNull::new(base).expect("the system could not give the arena");
        // SAFETY: `base` is valid for `len` bytes, just allocated.
        unsafe { ptr::write_bytes(base.as_ptr(), 0, len) };
        Arena { base, len }
    }

    /// First byte.
    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: an arena has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The arena as a slice of uninitialised bytes, for allocators that take one.
    pub fn as_uninit_slice(&mut self) -> &mut [MaybeUninit<u8>] {
        // SAFETY: `base` is valid for `len` bytes and `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().cast(), self.len) }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.len, ARENA_ALIGN).expect("arena layout");
        // SAFETY: allocated in `new` with this layout.
        unsafe { System.dealloc(self.base.as_ptr(), layout) };
    }
}

/// Builds an allocator over an arena. `Err` says why it is unavailable (e.g. a claim refused).
pub type Make = for<'a> fn(&'a mut Arena) -> Result<Box<dyn BenchHeap + 'a>, String>;

/// An allocator under test.
pub struct NamedAllocator {
    /// Name in tables and plots.
    pub name: &'static str,
    /// The crate it comes from (its version is read from `Cargo.lock`).
    pub krate: &'static str,
    /// Constructor.
    pub make: Make,
    /// Whether it allocates from the arena (false: the system allocator, a reference row).
    pub uses_arena: bool,
    /// Whether it can reuse freed memory (false: a bump allocator).
    pub frees: bool,
    /// How it is driven, when not plainly through its own `&mut self` API.
    pub note: &'static str,
}

/// Every allocator, ours first.
pub fn registry() -> Vec<NamedAllocator> {
    vec![
        named("bareheap Tlsf", "bareheap", |a| ours(Tlsf::new(), a), true, "its `Heap` trait: allocate/deallocate/grow/shrink; control block inside the arena"),
        named("bareheap Tlsf G=16", "bareheap", |a| ours(bareheap::TlsfWith::<30, 8, 16>::new(), a), true, "`TlsfWith<30, 8, 16>`: the 64-bit default before the 24-byte smallest block, kept for comparison: 16-byte granule (every payload 16-aligned), 32-byte smallest block; fewer instructions, more memory"),
        named("bareheap FirstFit", "bareheap", |a| ours(FirstFit::new(), a), true, ""),
        named("bareheap Slab<FirstFit>", "bareheap", |a| ours(Slab::<FirstFit>::new(FirstFit::new()), a), true, "`Slab<FirstFit, DefaultClasses>`: 4 KiB slabs, classes 16..=1024 B; larger requests go to the FirstFit behind it"),
        named("bareheap Slab<Tlsf>", "bareheap", |a| ours(Slab::<Tlsf>::new(Tlsf::new()), a), true, "`Slab<Tlsf, DefaultClasses>`, as above over Tlsf"),
        named("bareheap Tlsf (hardened)", "bareheap", |a| ours(HardenedTlsf::new(bareheap::TlsfWith::new()), a), true, "`hardened::HardenedTlsf`: encoded, checked free-list links, and a size record in front of and a canary behind every block, checked on free and resize (the cost of the `hardened` tier)"),
        named("bareheap FirstFit (hardened)", "bareheap", |a| ours(Hardened::new(FirstFitWith::<true>::new()), a), true, "`hardened::HardenedFirstFit`: canary and size record per block, and free-list links stored encoded and bounds-checked. On the trace nearly all of its extra time is first-fit's scan over holes that the 32 bytes added to every block make too small (a FirstFit with sizes padded by 16 bytes and no checks measured as slow)"),
        named("bareheap Bump", "bareheap", |a| ours(Bump::new(), a), false, "reclaims only the most recent block; every other free is a no-op, so it runs out where the others recycle"),
        named("talc", "talc", talc_make, true, "`Talc<Manual>`, claim + allocate/deallocate, `try_realloc_in_place` else move"),
        named("rlsf", "rlsf", rlsf_make, true, "`Tlsf<u32, u32, 28, 32>`, its own `reallocate`; metadata outside the arena"),
        named("linked_list_allocator", "linked_list_allocator", lla_make, true, "`Heap::allocate_first_fit`; no realloc API: allocate + copy + free"),
        named("embedded-alloc LlffHeap", "embedded-alloc", llff_make, true, "only `GlobalAlloc` (each call takes a critical section: critical-section's std impl, a global mutex); realloc = GlobalAlloc default (allocate + copy + free)"),
        named("embedded-alloc TlsfHeap", "embedded-alloc", tlsf_ea_make, true, "only `GlobalAlloc` (critical-section std impl, as above); rlsf `Tlsf<usize, usize, 64, 64>` inside; realloc = allocate + copy + free"),
        named("buddy_system_allocator", "buddy_system_allocator", buddy_make, true, "`Heap<32>` alloc/dealloc; no realloc API: allocate + copy + free; free lists outside the arena"),
        named("dlmalloc", "dlmalloc", dlmalloc_make, true, "`Dlmalloc<ArenaSource>`: its system hook hands out the arena sbrk-style in 64 KiB steps"),
        NamedAllocator { name: "system (glibc)", krate: "std", make: system_make, uses_arena: false, frees: true, note: "`std::alloc::System` (glibc malloc) as a reference: its own memory, not the arena" },
    ]
}

fn named(
    name: &'static str,
    krate: &'static str,
    make: Make,
    frees: bool,
    note: &'static str,
) -> NamedAllocator {
    NamedAllocator { name, krate, make, uses_arena: true, frees, note }
}

// ---------------------------------------------------------------------------------------------
// bareheap

/// Any heap of bareheap, through its core traits.
struct Ours<H>(H);

/// Claims the whole arena for a bareheap heap.
fn ours<'a, H: Heap + Claim + 'a>(
    mut heap: H,
    arena: &'a mut Arena,
) -> Result<Box<dyn BenchHeap + 'a>, String> {
    // SAFETY: the arena is valid for `len` bytes and borrowed mutably for the heap's lifetime
    // `'a`, so nothing else touches it while the heap uses it.
    let region = unsafe { Region::new(arena.base(), arena.len()) }.map_err(|e| e.to_string())?;
    heap.claim(region).map_err(|e| format!("claim refused: {e}"))?;
    Ok(Box::new(Ours(heap)))
}

impl<H: Heap> BenchHeap for Ours<H> {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        self.0.allocate(layout).map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: trait contract: `ptr` is a live block of this heap (so non-null) fitting `layout`.
        unsafe { self.0.deallocate(NonNull::new_unchecked(ptr), layout) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: trait contract: `ptr` is a live, non-null block of this heap fitting `layout`.
        let p = unsafe { NonNull::new_unchecked(ptr) };
        let moved = if new_size >= layout.size() {
            // SAFETY: as above, and `new_size >= old size`.
            unsafe { self.0.grow(p, layout, new_size) }
        } else {
            // SAFETY: as above, and `new_size < old size`.
            unsafe { self.0.shrink(p, layout, new_size) }
        };
        moved.map_or(ptr::null_mut(), NonNull::as_ptr)
    }
}

// ---------------------------------------------------------------------------------------------
// Peers

/// Moves a block by hand: allocate, copy, free. For allocators without a realloc of their own.
///
/// # Safety
///
/// As for [`BenchHeap::realloc`].
unsafe fn move_realloc<H: BenchHeap + ?Sized>(
    heap: &mut H,
    ptr: *mut u8,
    layout: Layout,
    new_size: usize,
) -> *mut u8 {
    let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
        return ptr::null_mut();
    };
    let new = heap.alloc(new_layout);
    if !new.is_null() {
        // SAFETY: two distinct live blocks of at least `min(old, new)` bytes each.
        unsafe { ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        // SAFETY: caller contract.
        unsafe { heap.dealloc(ptr, layout) };
    }
    new
}

struct TalcHeap(talc::base::Talc<talc::source::Manual, talc::DefaultBinning>);

fn talc_make(arena: &mut Arena) -> Result<Box<dyn BenchHeap + '_>, String> {
    let mut t = talc::base::Talc::new(talc::source::Manual);
    // SAFETY: the arena is exclusively ours for the heap's lifetime (borrowed mutably).
    unsafe { t.claim(arena.base(), arena.len()) }.ok_or("talc refused the arena")?;
    Ok(Box::new(TalcHeap(t)))
}

impl BenchHeap for TalcHeap {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        // SAFETY: every workload asks for at least one byte (talc's only requirement).
        unsafe { self.0.allocate(layout) }.map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: trait contract.
        unsafe { self.0.deallocate(ptr, layout) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: trait contract; `new_size > 0`.
        if unsafe { self.0.try_realloc_in_place(ptr, layout, new_size) } {
            return ptr;
        }
        // SAFETY: trait contract.
        unsafe { move_realloc(self, ptr, layout, new_size) }
    }
}

type RlsfTlsf<'a> = rlsf::Tlsf<'a, u32, u32, 28, 32>;

struct RlsfHeap<'a>(RlsfTlsf<'a>);

fn rlsf_make(arena: &mut Arena) -> Result<Box<dyn BenchHeap + '_>, String> {
    let mut t = RlsfTlsf::new();
    t.insert_free_block(arena.as_uninit_slice());
    Ok(Box::new(RlsfHeap(t)))
}

impl BenchHeap for RlsfHeap<'_> {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        self.0.allocate(layout).map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: trait contract: a live, non-null block allocated with this alignment.
        unsafe { self.0.deallocate(NonNull::new_unchecked(ptr), layout.align()) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        // SAFETY: trait contract: a live block of `self` with the same alignment.
        unsafe { self.0.reallocate(NonNull::new_unchecked(ptr), new_layout) }
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }
}

struct LlaHeap(linked_list_allocator::Heap);

fn lla_make(arena: &mut Arena) -> Result<Box<dyn BenchHeap + '_>, String> {
    let mut h = linked_list_allocator::Heap::empty();
    // SAFETY: the arena is exclusively ours for the heap's lifetime (borrowed mutably).
    unsafe { h.init(arena.base(), arena.len()) };
    Ok(Box::new(LlaHeap(h)))
}

impl BenchHeap for LlaHeap {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        self.0.allocate_first_fit(layout).map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: trait contract: a live, non-null block of this heap.
        unsafe { self.0.deallocate(NonNull::new_unchecked(ptr), layout) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: trait contract.
        unsafe { move_realloc(self, ptr, layout, new_size) }
    }
}

/// A peer that only offers `GlobalAlloc`.
struct Global<G>(G);

impl<G: GlobalAlloc> BenchHeap for Global<G> {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        // SAFETY: `layout.size() > 0` (every workload asks for at least one byte).
        unsafe { self.0.alloc(layout) }
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: trait contract = GlobalAlloc's.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: trait contract = GlobalAlloc's; `new_size > 0` and fits `isize` (≤ 64 KiB·2).
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }
}

fn llff_make(arena: &mut Arena) -> Result<Box<dyn BenchHeap + '_>, String> {
    let h = embedded_alloc::LlffHeap::empty();
    // The crate takes an address and turns it back into a pointer: expose the provenance.
    // SAFETY: the arena is exclusively ours for the heap's lifetime; `init` is called once.
    unsafe { h.init(arena.base().expose_provenance(), arena.len()) };
    Ok(Box::new(Global(h)))
}

fn tlsf_ea_make(arena: &mut Arena) -> Result<Box<dyn BenchHeap + '_>, String> {
    let h = embedded_alloc::TlsfHeap::empty();
    // SAFETY: as for `llff_make`.
    unsafe { h.init(arena.base().expose_provenance(), arena.len()) };
    Ok(Box::new(Global(h)))
}

fn system_make(_arena: &mut Arena) -> Result<Box<dyn BenchHeap + '_>, String> {
    Ok(Box::new(Global(System)))
}

struct BuddyHeap(buddy_system_allocator::Heap<32>);

fn buddy_make(arena: &mut Arena) -> Result<Box<dyn BenchHeap + '_>, String> {
    let mut h = buddy_system_allocator::Heap::<32>::empty();
    // SAFETY: the arena is exclusively ours for the heap's lifetime; the crate turns the
    // address back into pointers, so the provenance is exposed.
    unsafe { h.init(arena.base().expose_provenance(), arena.len()) };
    Ok(Box::new(BuddyHeap(h)))
}

impl BenchHeap for BuddyHeap {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        self.0.alloc(layout).map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: trait contract: a live, non-null block of this heap.
        unsafe { self.0.dealloc(NonNull::new_unchecked(ptr), layout) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: trait contract.
        unsafe { move_realloc(self, ptr, layout, new_size) }
    }
}

/// dlmalloc's "system" hook, fed from the arena like `sbrk`: contiguous pieces from the start,
/// never given back. Pieces are contiguous, so dlmalloc extends its top chunk in place.
struct ArenaSource {
    base: *mut u8,
    len: usize,
    used: Cell<usize>,
}

// SAFETY: the source owns its arena exclusively (borrowed for the heap's lifetime); moving it to
// another thread moves that ownership. dlmalloc requires `Send`.
unsafe impl Send for ArenaSource {}

/// The piece dlmalloc asks its system for at a time (its default granularity).
const DLMALLOC_PAGE: usize = 4096;

// SAFETY: `alloc` hands out disjoint, page-aligned pieces of memory this source owns; nothing is
// ever released or remapped (those hooks report failure), which dlmalloc handles.
unsafe impl dlmalloc::Allocator for ArenaSource {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        let used = self.used.get();
        let size = size.next_multiple_of(DLMALLOC_PAGE);
        match used.checked_add(size) {
            Some(end) if end <= self.len => {
                self.used.set(end);
                (self.base.wrapping_add(used), size, 0)
            }
            _ => (ptr::null_mut(), 0, 0),
        }
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        false
    }

    fn page_size(&self) -> usize {
        DLMALLOC_PAGE
    }
}

struct DlHeap(dlmalloc::Dlmalloc<ArenaSource>);

fn dlmalloc_make(arena: &mut Arena) -> Result<Box<dyn BenchHeap + '_>, String> {
    let source = ArenaSource { base: arena.base(), len: arena.len(), used: Cell::new(0) };
    Ok(Box::new(DlHeap(dlmalloc::Dlmalloc::new_with_allocator(source))))
}

impl BenchHeap for DlHeap {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        // SAFETY: a valid layout with a non-zero size (GlobalAlloc's contract).
        unsafe { self.0.malloc(layout.size(), layout.align()) }
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: trait contract.
        unsafe { self.0.free(ptr, layout.size(), layout.align()) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: trait contract.
        unsafe { self.0.realloc(ptr, layout.size(), layout.align(), new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_every_available_allocator_allocates_and_frees() {
        let mut arena = Arena::new(1 << 20);
        for a in registry() {
            let Ok(mut h) = (a.make)(&mut arena) else { continue };
            let layout = Layout::from_size_align(100, 64).unwrap();
            let p = h.alloc(layout);
            assert!(!p.is_null(), "{}", a.name);
            assert_eq!(p.addr() % 64, 0, "{}", a.name);
            // SAFETY: just allocated with `layout`.
            let q = unsafe { h.realloc(p, layout, 300) };
            assert!(!q.is_null(), "{}", a.name);
            // SAFETY: the realloc succeeded, so `q` is live with size 300.
            unsafe { h.dealloc(q, Layout::from_size_align(300, 64).unwrap()) };
        }
    }
}
