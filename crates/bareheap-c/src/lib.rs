//! The C ABI of [bareheap]: `malloc`, `free`, `calloc`, `realloc`, `aligned_alloc`,
//! `posix_memalign` and `malloc_usable_size` over one bareheap heap, so that C code and Rust
//! code in the same firmware share it.
//!
//! The C header is `include/bareheap.h` in this crate; it states the contract of each function
//! (NULL and zero-size cases, error codes). Build the crate as a `staticlib` and link it into a
//! C program, or depend on it from a Rust firmware (as an `rlib`) that also links C code:
//!
//! ```ignore
//! // Rust and C allocate from the same heap:
//! #[global_allocator]
//! static GLOBAL: bareheap_c::SharedHeap = bareheap_c::SharedHeap;
//! // C code calls bareheap_malloc/bareheap_free, or malloc/free with the `unprefixed` feature.
//! ```
//!
//! # Design
//!
//! C's `free` is not told the size of the block, but a bareheap [`Heap`] needs the `Layout`.
//! Each block therefore starts with a prefix of two words just below the pointer handed out:
//!
//! ```text
//!  block from the heap (Layout: offset + size, max(align, MIN_ALIGN))
//!  |  padding  | size | tag |  user bytes (size)  |
//!  +-----------+------+-----+---------------------+
//!  <------- offset --------> ^ returned pointer, aligned to max(align, MIN_ALIGN)
//!  offset = max(align, MIN_ALIGN) >= 2 words;  tag = align ^ ptr ^ rotl(size) ^ MAGIC
//! ```
//!
//! `free` recovers `align` from the tag and accepts it only if it is a power of two at least
//! [`MIN_ALIGN`]: a pointer without a valid prefix (not from this heap, interior, garbage) is
//! very unlikely to pass, and is then ignored and counted instead of corrupting the heap.
//!
//! # Choosing the heap
//!
//! The exported symbols use [`HEAP`]: a [`Locked`] heap over a static buffer of
//! [`HEAP_SIZE`] bytes (environment variable `BAREHEAP_C_HEAP_SIZE` at build time, default
//! 16384), locked with [`Spin`](bareheap::Spin), or a
//! [`CriticalSection`](bareheap::CriticalSection) with the `critical-section` feature. The
//! functions of [`abi`] work over any [`GlobalAlloc`], for other set-ups.
//!
//! # Features
//!
//! - `critical-section`: the interrupt-safe lock (firmware).
//! - `unprefixed`: also export `malloc`, `free`, ... on bare-metal targets (`target_os =
//!   "none"`). On hosted targets this does nothing: the C library owns those names, and
//!   replacing them would move the whole process (including Rust's `std`) onto a small
//!   static heap.
//! - `panic-handler`: a panic handler for a C-only firmware that links the staticlib.
//!
//! [bareheap]: bareheap
//! [`Heap`]: bareheap::Heap

#![cfg_attr(target_os = "none", no_std)]

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::{c_int, c_void};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicUsize, Ordering};

use bareheap::{Claim, Corruption, FirstFit, Heap, HeapMemory, Locked, Region, RegionError};

pub mod abi;

/// The alignment of every block from `malloc`, `calloc` and `realloc`: two words, which is
/// `alignof(max_align_t)` on the common 32- and 64-bit ABIs.
pub const MIN_ALIGN: usize = 2 * size_of::<usize>();

/// The size of the static heap, from `BAREHEAP_C_HEAP_SIZE` at build time (default 16384).
pub const HEAP_SIZE: usize = match option_env!("BAREHEAP_C_HEAP_SIZE") {
    Some(s) => parse_size(s),
    None => 16 * 1024,
};

/// Parses a decimal byte count at compile time (an invalid value fails the build).
const fn parse_size(s: &str) -> usize {
    let b = s.as_bytes();
    assert!(!b.is_empty(), "BAREHEAP_C_HEAP_SIZE must be a decimal number of bytes");
    let mut n: usize = 0;
    let mut i = 0;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "BAREHEAP_C_HEAP_SIZE must be a decimal number of bytes");
        n = match n.checked_mul(10) {
            Some(m) => match m.checked_add((b[i] - b'0') as usize) {
                Some(v) => v,
                None => panic!("BAREHEAP_C_HEAP_SIZE is too large"),
            },
            None => panic!("BAREHEAP_C_HEAP_SIZE is too large"),
        };
        i += 1;
    }
    n
}

/// The backing algorithm of [`HEAP`].
pub type DefaultHeap = FirstFit;

/// The lock of [`HEAP`].
#[cfg(feature = "critical-section")]
pub type DefaultLock = bareheap::CriticalSection;
/// The lock of [`HEAP`].
#[cfg(not(feature = "critical-section"))]
pub type DefaultLock = bareheap::Spin;

static MEMORY: HeapMemory<HEAP_SIZE> = HeapMemory::new();

/// The heap behind the exported C functions and [`SharedHeap`].
pub static HEAP: Locked<DefaultLock, StaticHeap<DefaultHeap>> =
    Locked::new(StaticHeap::new(FirstFit::new()));

/// A heap that claims the crate's static buffer on first use, so that neither C nor Rust
/// code has to initialise it.
pub struct StaticHeap<H> {
    heap: H,
    claimed: bool,
}

impl<H> StaticHeap<H> {
    /// Wraps `heap`; the static buffer is claimed by the first allocation.
    pub const fn new(heap: H) -> Self {
        StaticHeap { heap, claimed: false }
    }
}

impl<H: Claim> StaticHeap<H> {
    fn ensure_claimed(&mut self) {
        if !self.claimed {
            self.claimed = true;
            if let Some(region) = MEMORY.take() {
                // A refusal leaves the heap empty: every allocation then fails cleanly.
                let _ = self.heap.claim(region);
            }
        }
    }
}

impl<H: Claim> Claim for StaticHeap<H> {
    /// Adds memory beyond the static buffer (claiming the buffer first).
    fn claim(&mut self, region: Region) -> Result<usize, RegionError> {
        self.ensure_claimed();
        self.heap.claim(region)
    }
}

// SAFETY: every call forwards to `heap`, whose contract carries over; claiming the static
// buffer (once, `HeapMemory::take`) only adds memory.
unsafe impl<H: Heap + Claim> Heap for StaticHeap<H> {
    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.ensure_claimed();
        self.heap.allocate(layout)
    }

    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded caller contract.
        unsafe { self.heap.deallocate(ptr, layout) }
    }

    unsafe fn grow(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract.
        unsafe { self.heap.grow(ptr, old, new_size) }
    }

    unsafe fn shrink(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract.
        unsafe { self.heap.shrink(ptr, old, new_size) }
    }

    fn validate(&self) -> Result<(), Corruption> {
        self.heap.validate()
    }
}

/// A `#[global_allocator]` for Rust code that shares [`HEAP`] with the C functions.
#[derive(Clone, Copy, Debug, Default)]
pub struct SharedHeap;

// SAFETY: forwards to `HEAP`, a `Locked` heap, whose `GlobalAlloc` contract carries over.
unsafe impl GlobalAlloc for SharedHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded caller contract.
        unsafe { HEAP.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded caller contract.
        unsafe { HEAP.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded caller contract.
        unsafe { HEAP.realloc(ptr, layout, new_size) }
    }
}

/// Frees refused by the exported functions (pointers without a valid prefix).
static INVALID_FREES: AtomicUsize = AtomicUsize::new(0);

fn count_invalid_free() {
    // Load and store rather than `fetch_add`, which targets without compare-and-swap
    // (thumbv6m) lack; a lost increment under a race only makes the diagnostic count low.
    INVALID_FREES.store(INVALID_FREES.load(Ordering::Relaxed).saturating_add(1), Ordering::Relaxed);
}

/// C `malloc` over [`HEAP`]. See `include/bareheap.h`.
///
/// # Safety
///
/// None beyond C's: the result is freed with [`bareheap_free`] (or reallocated) at most once.
#[no_mangle]
pub unsafe extern "C" fn bareheap_malloc(size: usize) -> *mut c_void {
    abi::malloc(&HEAP, size).cast()
}

/// C `free` over [`HEAP`].
///
/// # Safety
///
/// `ptr` is null or a block from these functions not freed since (an invalid pointer is
/// detected with high probability, see the crate docs).
#[no_mangle]
pub unsafe extern "C" fn bareheap_free(ptr: *mut c_void) {
    // SAFETY: forwarded caller contract.
    if unsafe { abi::free(&HEAP, ptr.cast()) }.is_err() {
        count_invalid_free();
    }
}

/// C `calloc` over [`HEAP`] (overflow-checked).
///
/// # Safety
///
/// As for [`bareheap_malloc`].
#[no_mangle]
pub unsafe extern "C" fn bareheap_calloc(nmemb: usize, size: usize) -> *mut c_void {
    abi::calloc(&HEAP, nmemb, size).cast()
}

/// C `realloc` over [`HEAP`]; `size == 0` frees and returns null.
///
/// # Safety
///
/// `ptr` is null or a live block from these functions; on success it must not be used again.
#[no_mangle]
pub unsafe extern "C" fn bareheap_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded caller contract.
    match unsafe { abi::realloc(&HEAP, ptr.cast(), size) } {
        Ok(p) => p.cast(),
        Err(abi::InvalidPointer) => {
            count_invalid_free();
            ptr::null_mut()
        }
    }
}

/// C `aligned_alloc` over [`HEAP`].
///
/// # Safety
///
/// As for [`bareheap_malloc`].
#[no_mangle]
pub unsafe extern "C" fn bareheap_aligned_alloc(alignment: usize, size: usize) -> *mut c_void {
    abi::aligned_alloc(&HEAP, alignment, size).cast()
}

/// POSIX `posix_memalign` over [`HEAP`]: 0, `EINVAL` or `ENOMEM`.
///
/// # Safety
///
/// `memptr` is valid for a pointer-sized write.
#[no_mangle]
pub unsafe extern "C" fn bareheap_posix_memalign(
    memptr: *mut *mut c_void,
    alignment: usize,
    size: usize,
) -> c_int {
    match abi::posix_memalign(&HEAP, alignment, size) {
        Ok(p) => {
            // SAFETY: caller contract: `memptr` is writable.
            unsafe { memptr.write(p.cast()) };
            0
        }
        Err(code) => code,
    }
}

/// `malloc_usable_size` over [`HEAP`].
///
/// # Safety
///
/// `ptr` is null or a live block from these functions.
#[no_mangle]
pub unsafe extern "C" fn bareheap_malloc_usable_size(ptr: *mut c_void) -> usize {
    // SAFETY: forwarded caller contract.
    unsafe { abi::usable_size(ptr.cast()) }.unwrap_or(0)
}

/// The number of frees refused so far.
#[no_mangle]
pub extern "C" fn bareheap_invalid_free_count() -> usize {
    INVALID_FREES.load(Ordering::Relaxed)
}

/// 0 when [`HEAP`]'s metadata is consistent, 1 when not, 2 when the heap is busy (called
/// from inside the heap's lock).
#[no_mangle]
pub extern "C" fn bareheap_validate() -> c_int {
    match HEAP.lock(|h| h.validate()) {
        Some(Ok(())) => 0,
        Some(Err(_)) => 1,
        None => 2,
    }
}

/// The standard names, for bare-metal firmware (feature `unprefixed`).
#[cfg(all(feature = "unprefixed", target_os = "none"))]
mod unprefixed {
    use core::ffi::{c_int, c_void};

    /// C `malloc`.
    ///
    /// # Safety
    ///
    /// See [`bareheap_malloc`](crate::bareheap_malloc).
    #[no_mangle]
    pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
        // SAFETY: same contract.
        unsafe { crate::bareheap_malloc(size) }
    }

    /// C `free`.
    ///
    /// # Safety
    ///
    /// See [`bareheap_free`](crate::bareheap_free).
    #[no_mangle]
    pub unsafe extern "C" fn free(ptr: *mut c_void) {
        // SAFETY: same contract.
        unsafe { crate::bareheap_free(ptr) }
    }

    /// C `calloc`.
    ///
    /// # Safety
    ///
    /// See [`bareheap_calloc`](crate::bareheap_calloc).
    #[no_mangle]
    pub unsafe extern "C" fn calloc(nmemb: usize, size: usize) -> *mut c_void {
        // SAFETY: same contract.
        unsafe { crate::bareheap_calloc(nmemb, size) }
    }

    /// C `realloc`.
    ///
    /// # Safety
    ///
    /// See [`bareheap_realloc`](crate::bareheap_realloc).
    #[no_mangle]
    pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
        // SAFETY: same contract.
        unsafe { crate::bareheap_realloc(ptr, size) }
    }

    /// C `aligned_alloc`.
    ///
    /// # Safety
    ///
    /// See [`bareheap_aligned_alloc`](crate::bareheap_aligned_alloc).
    #[no_mangle]
    pub unsafe extern "C" fn aligned_alloc(alignment: usize, size: usize) -> *mut c_void {
        // SAFETY: same contract.
        unsafe { crate::bareheap_aligned_alloc(alignment, size) }
    }

    /// POSIX `posix_memalign`.
    ///
    /// # Safety
    ///
    /// See [`bareheap_posix_memalign`](crate::bareheap_posix_memalign).
    #[no_mangle]
    pub unsafe extern "C" fn posix_memalign(
        memptr: *mut *mut c_void,
        alignment: usize,
        size: usize,
    ) -> c_int {
        // SAFETY: same contract.
        unsafe { crate::bareheap_posix_memalign(memptr, alignment, size) }
    }

    /// `malloc_usable_size`.
    ///
    /// # Safety
    ///
    /// See [`bareheap_malloc_usable_size`](crate::bareheap_malloc_usable_size).
    #[no_mangle]
    pub unsafe extern "C" fn malloc_usable_size(ptr: *mut c_void) -> usize {
        // SAFETY: same contract.
        unsafe { crate::bareheap_malloc_usable_size(ptr) }
    }
}

#[cfg(all(feature = "panic-handler", target_os = "none"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Nothing on the allocation paths panics; this only satisfies the staticlib link.
    loop {
        core::hint::spin_loop();
    }
}
