//! The demo: the allocator chapter's program running for real on a microcontroller in QEMU (the
//! Cortex-M3 `lm3s6965evb` for `cargo xtask demo`, every board of `boards.rs` in the tests),
//! with bareheap's `FirstFit` as the global allocator, and then the rest of `alloc`: a
//! `String`, a `BTreeMap`, trait objects in `Box`es, an allocation failure handled without a
//! crash, and what all of it cost the heap.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use bareheap::{Counted, CriticalSection, FirstFit, Heap, HeapMemory, HeapStats, Locked};
use firmware::{board, hprintln};

/// The memory the heap gets: a plain `static` buffer, handed over once, no raw addresses.
static HEAP_MEMORY: HeapMemory<{ board::ARENA }> = HeapMemory::new();

/// The global allocator: a first-fit heap behind a critical section, so interrupt handlers
/// may allocate too.
#[global_allocator]
static HEAP: Locked<CriticalSection, Counted<FirstFit>> =
    Locked::new(Counted::new(FirstFit::new()));

/// Something that can be read, behind a `Box<dyn Sensor>`.
trait Sensor {
    fn name(&self) -> &str;
    fn read(&mut self) -> i32;
    fn unit(&self) -> &str;
}

struct Thermometer {
    millidegrees: i32,
}

impl Sensor for Thermometer {
    fn name(&self) -> &str {
        "thermometer"
    }
    fn read(&mut self) -> i32 {
        self.millidegrees += 250; // warming up
        self.millidegrees / 1000
    }
    fn unit(&self) -> &str {
        "°C"
    }
}

struct PulseCounter {
    label: String,
    pulses: i32,
}

impl Sensor for PulseCounter {
    fn name(&self) -> &str {
        &self.label
    }
    fn read(&mut self) -> i32 {
        self.pulses += 3;
        self.pulses
    }
    fn unit(&self) -> &str {
        "pulses"
    }
}

#[firmware::entry]
fn main() -> ! {
    let region = HEAP_MEMORY.take().expect("the heap memory is taken once, here");
    let donated = region.len();
    let capacity = match HEAP.claim(region) {
        Ok(bytes) => bytes,
        Err(e) => panic!("the heap refused its memory: {}", e),
    };
    let (_, baseline, _) = usage(0);
    hprintln!(
        "bareheap demo: Rust's `alloc` on a {} (QEMU {}, {} KiB RAM)",
        board::CORE,
        board::MACHINE,
        board::RAM_BYTES / 1024
    );
    hprintln!(
        "heap: FirstFit behind a critical section; {} bytes from a static buffer, {} allocatable",
        donated,
        capacity
    );

    hprintln!("\nThe book's program: push 42 and 83 into a Vec");
    #[allow(clippy::vec_init_then_push)] // the book's program, as written there
    let v = {
        let mut v = Vec::new();
        v.push(42);
        v.push(83);
        v
    };
    hprintln!("  {:?}", v);

    let mut greeting = String::from("Hello");
    greeting.push_str(", bare metal");
    let _ = write!(greeting, "! {} + {} = {}", v[0], v[1], v[0] + v[1]);
    hprintln!("\nString        {:?}", greeting);
    hprintln!(
        "              {} bytes in a {} byte allocation",
        greeting.len(),
        greeting.capacity()
    );

    let text = "the heap grows the map and the map holds the words";
    let mut words: BTreeMap<&str, u32> = BTreeMap::new();
    for word in text.split(' ') {
        *words.entry(word).or_insert(0) += 1;
    }
    hprintln!("\nBTreeMap      word counts of {:?}", text);
    hprintln!("              {:?}", words);

    let mut sensors: Vec<Box<dyn Sensor>> = vec![
        Box::new(Thermometer { millidegrees: 21_500 }),
        Box::new(PulseCounter { label: String::from("flow meter"), pulses: 0 }),
    ];
    hprintln!("\nBox<dyn Sensor>, two readings each:");
    for sensor in sensors.iter_mut() {
        let (first, second) = (sensor.read(), sensor.read());
        hprintln!(
            "              {:<12} {} then {} {}",
            sensor.name(),
            first,
            second,
            sensor.unit()
        );
    }

    let (used, free, largest) = usage(baseline);
    hprintln!("\nHeap usage with all of the above alive:");
    hprintln!(
        "              {} bytes in use, {} free, largest free block {} bytes",
        used,
        free,
        largest
    );

    let mut big: Vec<u8> = Vec::new();
    let ask = 4 * board::ARENA;
    hprintln!("\nVec::try_reserve({} KiB) on a {} KiB heap:", ask / 1024, board::ARENA / 1024);
    match big.try_reserve(ask) {
        Ok(()) => hprintln!("              got it?! (this would be a bug)"),
        Err(e) => hprintln!("              Err: {}", e),
    }
    big.extend_from_slice(b"still fine");
    hprintln!(
        "              handled, nothing crashed; the same Vec then holds {:?}",
        core::str::from_utf8(&big).unwrap_or("?")
    );

    drop((v, greeting, words, sensors, big));
    let (used, free, largest) = usage(baseline);
    let check = HEAP.lock(|heap| heap.validate());
    hprintln!("\nAfter dropping everything:");
    hprintln!(
        "              {} bytes in use, {} free in one block of {} bytes",
        used,
        free,
        largest
    );
    match check {
        Some(Ok(())) => hprintln!("              validate(): the heap's metadata is consistent"),
        other => {
            hprintln!("              validate(): {:?}", other);
            firmware::exit(firmware::EXIT_FAIL)
        }
    }
    if let Some(stats) = HEAP.stats() {
        hprintln!("\nHeap statistics (Counted<FirstFit>, over the whole run):\n{:#}", stats);
    }
    let ok = used == 0 && largest == free;
    hprintln!("\n{}", if ok { "Done: exiting QEMU with status 0." } else { "Leak!" });
    firmware::exit(if ok { firmware::EXIT_PASS } else { firmware::EXIT_FAIL })
}

/// Bytes in use (counted from `baseline` free bytes, headers included), bytes free, and the
/// largest free block, read inside the heap's lock.
fn usage(baseline: usize) -> (usize, usize, usize) {
    HEAP.lock(|heap| {
        let free = heap.free_bytes();
        (baseline.saturating_sub(free), free, heap.largest_free_block())
    })
    .unwrap_or_default()
}
