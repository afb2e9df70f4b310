//! Bindings for bareheap's interop tests: the simulated kernel allocator (`c/kmalloc_sim.c`),
//! the system C allocator, and the C program that calls bareheap-c (`c/abi_test.c`).
//!
//! The tests are in `tests/`; this crate is never published.

use core::ffi::{c_long, c_uint, c_void};
use std::sync::{Mutex, MutexGuard};

use bareheap::foreign::ForeignAlloc;
use bareheap::heap::Corruption;

// Keep bareheap-c linked: `c/abi_test.c` calls its exported functions.
pub use bareheap_c;

extern "C" {
    fn sim_kmalloc(size: usize, flags: c_uint) -> *mut c_void;
    fn sim_kfree(p: *mut c_void);
    fn sim_check() -> usize;
    fn sim_live() -> usize;
    fn sim_last_flags() -> c_uint;
    fn sim_call_count() -> usize;
    fn sim_bad_frees() -> usize;
    fn sim_fail_after(n: c_long);
    fn bareheap_c_abi_test() -> core::ffi::c_int;

    fn malloc(size: usize) -> *mut c_void;
    fn free(p: *mut c_void);
    fn aligned_alloc(align: usize, size: usize) -> *mut c_void;
}

/// Linux-style flags for the simulation (the values are only recorded).
pub const GFP_KERNEL: u32 = 0xcc0;
/// See [`GFP_KERNEL`].
pub const GFP_ATOMIC: u32 = 0x820;

/// The simulated kernel allocator: 8-byte alignment only (pointers are 8 mod 16).
#[derive(Debug)]
pub struct SimKmalloc;

// SAFETY: `sim_kmalloc` returns null or a fresh malloc-backed block of `size` bytes, 8-aligned
// (documented in kmalloc_sim.c); `sim_kfree` frees exactly those. C functions do not unwind.
unsafe impl ForeignAlloc for SimKmalloc {
    const ALIGN: usize = 8;
    type Flags = u32;

    unsafe fn alloc(size: usize, flags: u32) -> *mut u8 {
        // SAFETY: a plain C call; the simulation accepts any size.
        unsafe { sim_kmalloc(size, flags) }.cast()
    }

    unsafe fn free(ptr: *mut u8) {
        // SAFETY: caller contract: `ptr` came from `sim_kmalloc`.
        unsafe { sim_kfree(ptr.cast()) }
    }

    fn validate() -> Result<(), Corruption> {
        // SAFETY: plain C calls that only read the simulation's list.
        let (bad, bad_frees) = unsafe { (sim_check(), sim_bad_frees()) };
        match (bad, bad_frees) {
            (0, 0) => Ok(()),
            (0, _) => {
                Err(Corruption { what: "kfree of a pointer kmalloc never returned", addr: 0 })
            }
            _ => Err(Corruption { what: "kmalloc block header or canary damaged", addr: 0 }),
        }
    }
}

/// The simulation's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimState {
    /// Live blocks.
    pub live: usize,
    /// Flags of the last call.
    pub last_flags: u32,
    /// Calls to `sim_kmalloc`.
    pub calls: usize,
    /// Frees of pointers that were not live.
    pub bad_frees: usize,
    /// Live blocks with a damaged header or canary.
    pub damaged: usize,
}

/// Exclusive use of the (global, single-threaded) simulation for one test.
pub struct Sim(#[allow(dead_code)] MutexGuard<'static, ()>);

static SIM_LOCK: Mutex<()> = Mutex::new(());

impl Sim {
    /// Takes the simulation; failure injection is off.
    pub fn take() -> Sim {
        let guard = SIM_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: plain C call, serialised by the lock.
        unsafe { sim_fail_after(-1) };
        Sim(guard)
    }

    /// Fails every allocation after `n` more succeed (`None`: never).
    pub fn fail_after(&self, n: Option<usize>) {
        let n = n.map_or(-1, |n| c_long::try_from(n).unwrap_or(c_long::MAX));
        // SAFETY: plain C call, serialised by the lock.
        unsafe { sim_fail_after(n) };
    }

    /// The counters.
    pub fn state(&self) -> SimState {
        // SAFETY: plain C calls that only read, serialised by the lock.
        unsafe {
            SimState {
                live: sim_live(),
                last_flags: sim_last_flags(),
                calls: sim_call_count(),
                bad_frees: sim_bad_frees(),
                damaged: sim_check(),
            }
        }
    }
}

/// The system C allocator through `malloc`/`free` only (alignment fixed up by `Foreign`).
#[derive(Debug)]
pub struct SystemMalloc;

// SAFETY: C `malloc` returns null or `size` bytes aligned to `alignof(max_align_t)`, which is
// at least two words on the hosts tested (glibc, musl); `free` accepts those blocks.
unsafe impl ForeignAlloc for SystemMalloc {
    const ALIGN: usize = 2 * size_of::<usize>();
    type Flags = ();

    unsafe fn alloc(size: usize, (): ()) -> *mut u8 {
        // SAFETY: plain C call.
        unsafe { malloc(size) }.cast()
    }

    unsafe fn free(ptr: *mut u8) {
        // SAFETY: caller contract: `ptr` came from `malloc` or `aligned_alloc`.
        unsafe { free(ptr.cast()) }
    }
}

/// The system C allocator with its native `aligned_alloc` for over-aligned requests.
#[derive(Debug)]
pub struct SystemAlignedMalloc;

// SAFETY: as for `SystemMalloc`; C17 `aligned_alloc` returns null or a block aligned to any
// power-of-two `align` that `free` accepts (the size is rounded up to a multiple of `align`,
// as C11 requires).
unsafe impl ForeignAlloc for SystemAlignedMalloc {
    const ALIGN: usize = 2 * size_of::<usize>();
    const ALIGNED: bool = true;
    type Flags = ();

    unsafe fn alloc(size: usize, (): ()) -> *mut u8 {
        // SAFETY: plain C call.
        unsafe { malloc(size) }.cast()
    }

    unsafe fn alloc_aligned(size: usize, align: usize, (): ()) -> *mut u8 {
        let Some(size) = size.checked_next_multiple_of(align) else {
            return core::ptr::null_mut();
        };
        // SAFETY: plain C call with a power-of-two alignment dividing the size.
        unsafe { aligned_alloc(align, size) }.cast()
    }

    unsafe fn free(ptr: *mut u8) {
        // SAFETY: caller contract.
        unsafe { free(ptr.cast()) }
    }
}

/// Runs the C program `c/abi_test.c` against bareheap-c's exported functions; returns the
/// number of failed checks (each is printed to stderr by the C side).
pub fn run_c_abi_test() -> i32 {
    // SAFETY: a plain C call into the test program, which uses only bareheap-c's functions.
    unsafe { bareheap_c_abi_test() }
}
