use std::alloc::System;
use std::vec::Vec;

use super::*;

fn bytes(p: *mut u8, n: usize) -> &'static [u8] {
    // SAFETY: test blocks of at least `n` initialized bytes, alive while inspected.
    unsafe { core::slice::from_raw_parts(p, n) }
}

#[test]
fn malloc_is_min_aligned_and_usable_size_is_the_request() {
    for size in [0, 1, 15, 16, 17, 100, 4096] {
        let p = malloc(&System, size);
        assert!(!p.is_null());
        assert_eq!(p.addr() % MIN_ALIGN, 0);
        // SAFETY: `p` is live.
        assert_eq!(unsafe { usable_size(p) }, Ok(size));
        // SAFETY: the block has `size` bytes.
        unsafe { p.write_bytes(0x5A, size) };
        // SAFETY: `p` is live.
        assert_eq!(unsafe { free(&System, p) }, Ok(()));
    }
}

#[test]
fn malloc_zero_gives_unique_pointers() {
    let ps: Vec<_> = (0..64).map(|_| malloc(&System, 0)).collect();
    let mut a: Vec<_> = ps.iter().map(|p| p.addr()).collect();
    a.sort_unstable();
    a.dedup();
    assert_eq!(a.len(), 64);
    for p in ps {
        // SAFETY: live.
        unsafe { free(&System, p) }.unwrap();
    }
}

#[test]
fn calloc_zeroes_and_rejects_overflow() {
    let p = calloc(&System, 10, 100);
    assert!(bytes(p, 1000).iter().all(|&b| b == 0));
    // SAFETY: live.
    unsafe { free(&System, p) }.unwrap();
    assert!(calloc(&System, usize::MAX / 2, 3).is_null());
    assert!(calloc(&System, usize::MAX, usize::MAX).is_null());
    let z = calloc(&System, 0, 5);
    assert!(!z.is_null());
    // SAFETY: live.
    unsafe { free(&System, z) }.unwrap();
}

#[test]
fn realloc_null_zero_grow_shrink_and_failure() {
    // SAFETY: null is allowed.
    let p = unsafe { realloc(&System, ptr::null_mut(), 10) }.unwrap();
    assert!(!p.is_null());
    // SAFETY: 10 bytes.
    unsafe { p.copy_from_nonoverlapping(b"0123456789".as_ptr(), 10) };
    // SAFETY: `p` is live.
    let q = unsafe { realloc(&System, p, 5000) }.unwrap();
    assert_eq!(bytes(q, 10), b"0123456789");
    // SAFETY: `q` is live.
    assert_eq!(unsafe { usable_size(q) }, Ok(5000));
    // SAFETY: `q` is live.
    let r = unsafe { realloc(&System, q, 3) }.unwrap();
    assert_eq!(bytes(r, 3), b"012");
    // A size that cannot be represented fails and leaves the block intact.
    // SAFETY: `r` is live.
    assert_eq!(unsafe { realloc(&System, r, usize::MAX - 4) }, Ok(ptr::null_mut()));
    assert_eq!(bytes(r, 3), b"012");
    // Size 0 frees.
    // SAFETY: `r` is live; afterwards it is freed.
    assert_eq!(unsafe { realloc(&System, r, 0) }, Ok(ptr::null_mut()));
}

#[test]
fn realloc_keeps_the_alignment_of_aligned_alloc() {
    let p = aligned_alloc(&System, 256, 10);
    assert_eq!(p.addr() % 256, 0);
    // SAFETY: `p` is live.
    let q = unsafe { realloc(&System, p, 3000) }.unwrap();
    assert_eq!(q.addr() % 256, 0);
    // SAFETY: `q` is live.
    unsafe { free(&System, q) }.unwrap();
}

#[test]
fn aligned_alloc_every_power_of_two() {
    for log2 in 0..16 {
        let p = aligned_alloc(&System, 1 << log2, 33);
        assert!(!p.is_null());
        assert_eq!(p.addr() % (1 << log2), 0);
        // SAFETY: live.
        unsafe { free(&System, p) }.unwrap();
    }
    assert!(aligned_alloc(&System, 0, 8).is_null());
    assert!(aligned_alloc(&System, 24, 8).is_null());
    assert!(aligned_alloc(&System, 1 << (usize::BITS - 1), 1).is_null());
}

#[test]
fn posix_memalign_error_codes() {
    assert_eq!(posix_memalign(&System, 3, 8), Err(EINVAL));
    assert_eq!(posix_memalign(&System, size_of::<usize>() / 2, 8), Err(EINVAL));
    assert_eq!(posix_memalign(&System, 64, usize::MAX - 100), Err(ENOMEM));
    let p = posix_memalign(&System, 64, 8).unwrap();
    assert_eq!(p.addr() % 64, 0);
    // SAFETY: live.
    unsafe { free(&System, p) }.unwrap();
}

#[test]
fn free_null_is_a_no_op_and_garbage_is_refused() {
    // SAFETY: null is allowed.
    assert_eq!(unsafe { free(&System, ptr::null_mut()) }, Ok(()));
    let mut words = [0usize; 8];
    let inside = words.as_mut_ptr().wrapping_add(4).cast::<u8>();
    // A stack buffer without a prefix: refused, nothing freed.
    // SAFETY: deliberately an invalid pointer whose lower words are readable.
    assert_eq!(unsafe { free(&System, inside) }, Err(InvalidPointer));
    // An interior pointer of a live block.
    let p = malloc(&System, 64);
    // SAFETY: the block is ours; zero it so the words below the interior pointer are defined.
    unsafe { p.write_bytes(0, 64) };
    // SAFETY: deliberately interior pointers (misaligned and aligned).
    unsafe {
        assert_eq!(free(&System, p.wrapping_add(1)), Err(InvalidPointer));
        assert_eq!(free(&System, p.wrapping_add(32)), Err(InvalidPointer));
        assert_eq!(usable_size(p.wrapping_add(32)), Err(InvalidPointer));
        assert_eq!(realloc(&System, p.wrapping_add(32), 5), Err(InvalidPointer));
    }
    // SAFETY: live.
    unsafe { free(&System, p) }.unwrap();
}

#[test]
fn static_heap_serves_c_and_rust_from_one_buffer() {
    use core::alloc::GlobalAlloc;
    // SAFETY: the exported functions with valid arguments.
    unsafe {
        let c = crate::bareheap_malloc(100);
        assert!(!c.is_null());
        let r = crate::SharedHeap.alloc(Layout::new::<[u64; 4]>());
        assert!(!r.is_null());
        crate::SharedHeap.dealloc(r, Layout::new::<[u64; 4]>());
        crate::bareheap_free(c);
        assert_eq!(crate::bareheap_validate(), 0);
    }
}
