//! One operation in a fragmented heap, for callgrind (see measure.sh): `holes` free blocks of
//! 32 bytes sit below the only block large enough, then one allocation must pass them all
//! (first-fit's worst case) and one free of a block above them must walk to it.
//!
//! `TlsfThird`: Tlsf's longest allocation, its failure path: a 4,592-byte request that no
//! class above its own can serve, and that only the third block of its own class (4,096,
//! 4,096 and 4,600 bytes) fits, in a heap otherwise full. It runs `TlsfWith<30, 8, 8>` (the
//! 64-bit default with one first level fewer, same classes up to 8 GiB): its own copy of the
//! code, so that the calls of its setup do not change how the compiler inlines the `Tlsf`
//! scenario's.
use bareheap::stats::HeapStats;
use bareheap::{Claim, FirstFit, Heap, Region, Tlsf, TlsfWith};
use core::alloc::Layout;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

#[inline(never)]
fn op_allocate<H: Heap>(h: &mut H, l: Layout) -> Option<NonNull<u8>> {
    h.allocate(l)
}

#[inline(never)]
fn op_deallocate<H: Heap>(h: &mut H, p: NonNull<u8>, l: Layout) {
    // SAFETY: `p` is live with `l` (the caller's).
    unsafe { h.deallocate(p, l) }
}

fn run<H: Heap + Claim + Default>(holes: usize) {
    let mem: &'static mut [MaybeUninit<u8>] =
        Box::leak(vec![MaybeUninit::uninit(); 16 << 20].into_boxed_slice());
    let mut h = H::default();
    h.claim(Region::from_static(mem).unwrap()).unwrap();
    let small = Layout::from_size_align(32, 8).unwrap();
    let blocks: Vec<_> = (0..2 * holes).map(|_| h.allocate(small).unwrap()).collect();
    for b in blocks.iter().step_by(2) {
        // SAFETY: live with `small`, freed once.
        unsafe { h.deallocate(*b, small) };
    }
    let big = Layout::from_size_align(4096, 8).unwrap();
    let p = op_allocate(&mut h, big).unwrap();
    op_deallocate(&mut h, p, big);
    h.validate().unwrap();
}

fn run_third() {
    let mem: &'static mut [MaybeUninit<u8>] =
        Box::leak(vec![MaybeUninit::uninit(); 1 << 20].into_boxed_slice());
    let mut h = TlsfWith::<30, 8, 8>::new();
    h.claim(Region::from_static(mem).unwrap()).unwrap();
    let guard = Layout::from_size_align(8, 8).unwrap();
    let mut blocks = Vec::new();
    for size in [4096 - 8, 4096 - 8, 4600 - 8] {
        let l = Layout::from_size_align(size, 8).unwrap();
        blocks.push((h.allocate(l).unwrap(), l));
        h.allocate(guard).unwrap();
    }
    while h.largest_free_block() > 0 {
        h.allocate(Layout::from_size_align(h.largest_free_block(), 8).unwrap()).unwrap();
    }
    for &(p, l) in blocks.iter().rev() {
        // SAFETY: live with `l`, freed once.
        unsafe { h.deallocate(p, l) };
    }
    let (want, l) = blocks[2];
    let p = op_allocate(&mut h, l).unwrap();
    assert_eq!(p, want, "the third block of the class");
    op_deallocate(&mut h, p, l);
    h.validate().unwrap();
}

fn main() {
    let heap = std::env::args().nth(1).expect("heap");
    let holes: usize = std::env::args().nth(2).expect("holes").parse().unwrap();
    match heap.as_str() {
        "FirstFit" => run::<FirstFit>(holes),
        "Tlsf" => run::<Tlsf>(holes),
        "TlsfThird" => run_third(),
        _ => panic!("FirstFit, Tlsf or TlsfThird"),
    }
}
