//! C and Rust sharing one heap: C code (`firmware/c/interop.c`, built by `build.rs` with the
//! `cc` crate) calls `malloc`, `calloc`, `realloc`, `aligned_alloc` and `free`, which this
//! program exports over the same `Locked` static that Rust's `#[global_allocator]` is: a
//! `Counted<Slab<FirstFit, SmallClasses>>`. Rust allocates `Vec`s and `Box`es between the C
//! calls; both sides check their contents; the heap's counters show both used it.
//!
//! Built with C only for `thumbv7m-none-eabi` and only when a cross C compiler was found
//! (`cargo xtask` installs Debian's `gcc-arm-none-eabi`); otherwise the program says so and
//! fails, and `cargo xtask` does not run it (SKIPPED).
//!
//! Run: `cargo xtask test`, or in `firmware/`: `cargo run --release --bin c_interop`.
#![no_std]
#![no_main]

#[cfg(c_interop)]
mod shared {
    extern crate alloc;

    use alloc::boxed::Box;
    use alloc::vec::Vec;
    use core::ffi::{c_char, c_int, c_void, CStr};

    use bareheap::slab::SmallClasses;
    use bareheap::{Counted, CriticalSection, FirstFit, Heap, HeapMemory, Locked, Slab};
    use firmware::{board, exit, hprintln, EXIT_FAIL, EXIT_PASS};

    type Shared = Counted<Slab<FirstFit, SmallClasses>>;

    static MEMORY: HeapMemory<{ board::ARENA }> = HeapMemory::new();

    /// The one heap: Rust's global allocator, and behind the C functions below.
    #[global_allocator]
    static HEAP: Locked<CriticalSection, Shared> =
        Locked::new(Counted::new(Slab::new(FirstFit::new())));

    /// The C `malloc` of this firmware (bareheap-c's ABI over [`HEAP`]).
    #[no_mangle]
    extern "C" fn malloc(size: usize) -> *mut c_void {
        bareheap_c::abi::malloc(&HEAP, size).cast()
    }

    /// The C `calloc`.
    #[no_mangle]
    extern "C" fn calloc(nmemb: usize, size: usize) -> *mut c_void {
        bareheap_c::abi::calloc(&HEAP, nmemb, size).cast()
    }

    /// The C `aligned_alloc`.
    #[no_mangle]
    extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
        bareheap_c::abi::aligned_alloc(&HEAP, align, size).cast()
    }

    /// The C `realloc`.
    ///
    /// # Safety
    ///
    /// C's contract: `p` is null or a live block of this heap's C functions.
    #[no_mangle]
    unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
        // SAFETY: forwarded C contract. An invalid pointer is refused (null returned).
        unsafe { bareheap_c::abi::realloc(&HEAP, p.cast(), size) }
            .unwrap_or(core::ptr::null_mut())
            .cast()
    }

    /// The C `free`.
    ///
    /// # Safety
    ///
    /// C's contract: `p` is null or a live block of this heap's C functions.
    #[no_mangle]
    unsafe extern "C" fn free(p: *mut c_void) {
        // SAFETY: forwarded C contract.
        if unsafe { bareheap_c::abi::free(&HEAP, p.cast()) }.is_err() {
            hprintln!("c_interop: FAIL: C freed a pointer that is not a live block");
            exit(EXIT_FAIL);
        }
    }

    /// The C side's list, opaque here.
    #[repr(C)]
    struct CNode {
        _private: [u8; 0],
    }

    extern "C" {
        fn c_list_build(n: u32) -> *mut CNode;
        fn c_list_check(head: *const CNode, n: u32) -> c_int;
        fn c_list_free(head: *mut CNode);
        fn c_calloc_realloc_aligned() -> c_int;
        fn c_strdup_hello() -> *mut c_char;
    }

    /// Blocks allocated so far (C's and Rust's alike: one counter).
    fn allocations() -> u64 {
        HEAP.counters().map_or(0, |c| c.allocations)
    }

    fn check(ok: bool, what: &str) {
        if !ok {
            hprintln!("c_interop: FAIL: {}", what);
            exit(EXIT_FAIL);
        }
    }

    pub fn run() -> ! {
        let region = MEMORY.take().expect("the heap memory is taken once, here");
        let claimed = HEAP.claim(region).expect("the board's arena is a valid region");
        hprintln!("c_interop: one heap (Counted<Slab<FirstFit, SmallClasses>>), {} bytes", claimed);
        const N: u32 = 40;

        // C builds a list (2 N small blocks) ...
        let before = allocations();
        // SAFETY: a C function of this program; it only calls the allocator functions above.
        let list = unsafe { c_list_build(N) };
        check(!list.is_null(), "C could not build its list");
        let by_c = allocations() - before;

        // ... Rust allocates in between ...
        let before = allocations();
        let squares: Vec<u32> = (0..200).map(|i| i * i).collect();
        let boxes: Vec<Box<[u32; 6]>> = (0..N).map(|i| Box::new([i; 6])).collect();
        let by_rust = allocations() - before;
        let c_block = list.addr();
        let rust_block = (&raw const *boxes[0]).addr();
        let slabs = HEAP.lock(|h| h.heap().slab_count()).unwrap_or(0);

        // ... C checks its list, with Rust's blocks live around it, and frees it.
        // SAFETY: `list` came from `c_list_build` and is freed once, below.
        check(unsafe { c_list_check(list, N) } == 0, "C's list was corrupted");
        // SAFETY: as above.
        unsafe { c_list_free(list) };
        check(squares.iter().enumerate().all(|(i, &s)| s as usize == i * i), "Vec corrupted");
        check(
            boxes.iter().enumerate().all(|(i, b)| b.iter().all(|&x| x as usize == i)),
            "Box corrupted",
        );
        drop(boxes);
        drop(squares);

        // calloc zeroes, realloc keeps contents across the slab and FirstFit, aligned_alloc
        // aligns.
        // SAFETY: a C function of this program.
        let code = unsafe { c_calloc_realloc_aligned() };
        check(code == 0, "C's calloc/realloc/aligned_alloc checks");

        // A string from C's malloc, checked and freed by Rust through C's free.
        // SAFETY: a C function of this program.
        let s = unsafe { c_strdup_hello() };
        check(!s.is_null(), "C could not allocate a string");
        // SAFETY: `s` is a NUL-terminated string the C side just wrote.
        let text = unsafe { CStr::from_ptr(s) };
        check(text.to_bytes() == b"hello from C", "C's string");
        // SAFETY: `s` came from C's malloc (above) and is freed once.
        unsafe { free(s.cast()) };

        let counters = HEAP.counters().unwrap_or_default();
        let valid = HEAP.lock(|h| h.validate().is_ok()) == Some(true);
        let invalid = HEAP.lock(|h| h.heap().invalid_frees()).unwrap_or(usize::MAX);
        hprintln!(
            "c_interop: C list: {} blocks by C (first at {:#010x}); Rust: {} blocks (first box at {:#010x}); {} slabs in use then",
            by_c, c_block, by_rust, rust_block, slabs
        );
        hprintln!(
            "c_interop: heap totals: {} allocations, {} frees, {} reallocs, {} failures, peak {} bytes, {} bytes in use at the end",
            counters.allocations,
            counters.deallocations,
            counters.reallocations,
            counters.failures,
            counters.peak_bytes,
            counters.bytes_in_use
        );
        check(by_c == 2 * u64::from(N), "C's allocations went to the shared heap");
        check(by_rust == 2 + u64::from(N), "Rust's allocations went to the shared heap");
        check(counters.blocks_in_use == 0, "everything was freed");
        check(valid, "the heap validates");
        check(invalid == 0, "no free was refused");
        hprintln!("c_interop: PASS: C and Rust shared one heap");
        exit(EXIT_PASS)
    }
}

#[firmware::entry]
fn main() -> ! {
    #[cfg(c_interop)]
    shared::run();
    #[cfg(not(c_interop))]
    {
        firmware::hprintln!(
            "c_interop: SKIPPED: built without the C half (thumbv7m-none-eabi with a cross C compiler only)"
        );
        firmware::exit(firmware::EXIT_FAIL)
    }
}
