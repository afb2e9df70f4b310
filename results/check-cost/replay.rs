use bareheap::{Claim, FirstFit, Heap, Region};
use core::alloc::Layout;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

fn varint(b: &[u8], i: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut s = 0;
    loop {
        let x = b[*i];
        *i += 1;
        v |= u64::from(x & 0x7f) << s;
        if x < 0x80 { return v; }
        s += 7;
    }
}

enum Ev { A(usize, Layout), F(usize), R(usize, usize) }

#[inline(never)]
fn replay(heap: &mut FirstFit, evs: &[Ev], slots: &mut [Option<(NonNull<u8>, Layout)>]) -> usize {
    let mut n = 0;
    for e in evs {
        match *e {
            Ev::A(s, l) => { let p = heap.allocate(l).expect("oom"); slots[s] = Some((p, l)); n += 1; }
            Ev::F(s) => {
                let (p, l) = slots[s].take().unwrap();
                // SAFETY: the trace frees each slot's live block once, with its layout.
                unsafe { heap.deallocate(p, l) };
            }
            Ev::R(s, new) => {
                let (p, l) = slots[s].unwrap();
                // SAFETY: `p` is the slot's live block with layout `l`; the slot takes the result.
                let q = if new >= l.size() { unsafe { heap.grow(p, l, new) } } else {
                    // SAFETY: as above.
                    unsafe { heap.shrink(p, l, new) }
                }.expect("oom");
                slots[s] = Some((q, Layout::from_size_align(new, l.align()).unwrap()));
            }
        }
    }
    n
}

fn main() {
    let b = std::fs::read(std::env::args().nth(1).expect("trace path")).unwrap();
    let mut i = 8;
    let count = varint(&b, &mut i) as usize;
    let nslots = varint(&b, &mut i) as usize;
    let _peak = varint(&b, &mut i);
    let mut evs = Vec::with_capacity(count);
    for _ in 0..count {
        let tag = b[i]; i += 1;
        let slot = varint(&b, &mut i) as usize;
        match tag {
            0 => { let size = varint(&b, &mut i) as usize; let a = b[i]; i += 1; evs.push(Ev::A(slot, Layout::from_size_align(size, 1 << a).unwrap())); }
            1 => evs.push(Ev::F(slot)),
            _ => { let ns = varint(&b, &mut i) as usize; evs.push(Ev::R(slot, ns)); }
        }
    }
    let mem: &'static mut [MaybeUninit<u8>] = Box::leak(vec![MaybeUninit::uninit(); 256 << 20].into_boxed_slice());
    let mut heap = FirstFit::new();
    heap.claim(Region::from_static(mem).unwrap()).unwrap();
    let mut slots = vec![None; nslots];
    let n = replay(&mut heap, &evs, &mut slots);
    heap.validate().unwrap();
    println!("{} events, {n} allocs", evs.len());
}
