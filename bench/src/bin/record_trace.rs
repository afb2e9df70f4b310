//! Records the allocation trace of a real Rust workload into `bench/traces/serde_json.bhtrace`.
//!
//! The workload is ordinary application code: build a large JSON document of orders as a
//! `serde_json::Value`, serialise it, parse it into typed structs, aggregate, re-serialise it
//! pretty-printed, parse that back untyped, edit it and serialise it again. Every `alloc`,
//! `dealloc` and `realloc` it makes goes through a recording `#[global_allocator]` (which
//! forwards to the system allocator), and the trace is then written in the format of
//! [`bench::trace`].
//!
//! The trace is committed, so benchmark runs do not depend on this program; re-record with
//! `cargo run --release -p bench --bin record_trace` (deterministic input: the same document
//! every time; the exact event sequence can still differ across serde_json or std versions).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use bench::trace::{RawEvent, Trace};
use bench::workload::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Whether allocations are being recorded.
static RECORDING: AtomicBool = AtomicBool::new(false);
/// The events so far. Growing this vector allocates too; the `BUSY` guard passes those
/// allocations through unrecorded.
static EVENTS: Mutex<Vec<RawEvent>> = Mutex::new(Vec::new());

thread_local! {
    /// Set while the recorder itself runs on this thread (re-entry from `EVENTS.push`).
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

struct Recorder;

fn record(ev: RawEvent) {
    if !RECORDING.load(Ordering::Relaxed) {
        return;
    }
    BUSY.with(|busy| {
        if busy.replace(true) {
            return;
        }
        EVENTS.lock().expect("recorder lock").push(ev);
        busy.set(false);
    });
}

// SAFETY: every call is forwarded unchanged to `System`; recording only reads the arguments
// and results.
unsafe impl GlobalAlloc for Recorder {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded caller contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            record(RawEvent::Alloc { ptr: p.addr(), size: layout.size(), align: layout.align() });
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded caller contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            record(RawEvent::Alloc { ptr: p.addr(), size: layout.size(), align: layout.align() });
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(RawEvent::Free { ptr: ptr.addr() });
        // SAFETY: forwarded caller contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded caller contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            record(RawEvent::Realloc { ptr: ptr.addr(), new_ptr: p.addr(), new_size });
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Recorder = Recorder;

#[derive(Serialize, Deserialize)]
struct Order {
    id: u64,
    customer: Customer,
    items: Vec<Item>,
    tags: Vec<String>,
    note: Option<String>,
    paid: bool,
}

#[derive(Serialize, Deserialize)]
struct Customer {
    name: String,
    email: String,
    address: Address,
}

#[derive(Serialize, Deserialize)]
struct Address {
    street: String,
    city: String,
    zip: String,
    country: String,
}

#[derive(Serialize, Deserialize)]
struct Item {
    sku: String,
    name: String,
    qty: u32,
    price: f64,
    attrs: BTreeMap<String, String>,
}

const WORDS: &[&str] = &[
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
];
const CITIES: &[&str] = &["Lyon", "Porto", "Gdansk", "Tampere", "Graz", "Ghent", "Brno", "Cork"];

fn words(rng: &mut Rng, n: usize) -> String {
    (0..n).map(|_| WORDS[rng.below(WORDS.len())]).collect::<Vec<_>>().join(" ")
}

/// Builds the document the way application code does: `json!` objects, pushed into arrays.
fn build_document(rng: &mut Rng, orders: usize) -> Value {
    let mut list = Vec::new();
    for id in 0..orders as u64 {
        let items: Vec<Value> = (0..rng.range(1, 8))
            .map(|i| {
                let mut attrs = serde_json::Map::new();
                for _ in 0..rng.range(0, 4) {
                    let (key, len) = (words(rng, 1), rng.range(1, 3) as usize);
                    attrs.insert(key, Value::String(words(rng, len)));
                }
                let len = rng.range(1, 4) as usize;
                json!({
                    "sku": format!("SKU-{id:06}-{i}"),
                    "name": words(rng, len),
                    "qty": rng.range(1, 20),
                    "price": rng.range(99, 99_999) as f64 / 100.0,
                    "attrs": attrs,
                })
            })
            .collect();
        let tags: Vec<String> = (0..rng.range(0, 5)).map(|_| words(rng, 1)).collect();
        let name = words(rng, 2);
        list.push(json!({
            "id": id,
            "customer": {
                "email": format!("{}@example.com", name.replace(' ', ".")),
                "name": name,
                "address": {
                    "street": format!("{} {}", rng.range(1, 300), words(rng, 2)),
                    "city": CITIES[rng.below(CITIES.len())],
                    "zip": format!("{:05}", rng.range(1000, 99999)),
                    "country": "EU",
                },
            },
            "items": items,
            "tags": tags,
            "note": if rng.unit() < 0.3 { Value::String(words(rng, 12)) } else { Value::Null },
            "paid": rng.unit() < 0.8,
        }));
    }
    json!({ "version": 1, "orders": list })
}

#[derive(Deserialize)]
struct Document {
    orders: Vec<Order>,
}

/// The workload whose allocations are recorded. Returns a checksum so nothing is optimised out.
fn workload(orders: usize) -> usize {
    let mut rng = Rng::new(0x05EE_D0F7_A11C);
    let doc = build_document(&mut rng, orders);
    let text = serde_json::to_string(&doc).expect("serialise");
    drop(doc);

    let parsed: Document = serde_json::from_str(&text).expect("parse typed");
    let mut by_city: BTreeMap<String, (u32, f64)> = BTreeMap::new();
    for o in &parsed.orders {
        let total: f64 = o.items.iter().map(|i| f64::from(i.qty) * i.price).sum();
        let e = by_city.entry(o.customer.address.city.clone()).or_default();
        e.0 += 1;
        e.1 += total;
    }
    let mut orders = parsed.orders;
    orders.retain(|o| o.paid);
    orders.sort_by(|a, b| a.customer.name.cmp(&b.customer.name));
    let pretty = serde_json::to_string_pretty(&orders).expect("serialise pretty");
    drop(orders);

    let mut untyped: Value = serde_json::from_str(&pretty).expect("parse untyped");
    if let Some(list) = untyped.as_array_mut() {
        for (i, o) in list.iter_mut().enumerate() {
            if let Some(obj) = o.as_object_mut() {
                obj.remove("note");
                obj.insert("rank".into(), json!(i));
                obj.insert("summary".into(), Value::String(format!("order #{i}")));
            }
        }
    }
    let summary = serde_json::to_string(&json!({ "by_city": by_city, "orders": untyped }))
        .expect("serialise summary");
    text.len() + pretty.len() + summary.len()
}

fn main() {
    let orders: usize = std::env::args().nth(1).map_or(400, |s| s.parse().expect("order count"));
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/serde_json.bhtrace");
    EVENTS.lock().expect("recorder lock").reserve(4_000_000);

    RECORDING.store(true, Ordering::SeqCst);
    let checksum = workload(orders);
    RECORDING.store(false, Ordering::SeqCst);

    let raw = std::mem::take(&mut *EVENTS.lock().expect("recorder lock"));
    let trace = Trace::from_raw(&raw);
    let bytes = trace.encode();
    std::fs::write(&out, &bytes).expect("write trace");
    let (mut a, mut f, mut r) = (0, 0, 0);
    for ev in &trace.events {
        match ev {
            bench::trace::Event::Alloc { .. } => a += 1,
            bench::trace::Event::Free { .. } => f += 1,
            bench::trace::Event::Realloc { .. } => r += 1,
        }
    }
    println!(
        "{}: {} events ({a} alloc, {f} free, {r} realloc), {} slots, peak live {} KiB, {} KiB on disk (checksum {checksum})",
        out.display(),
        trace.events.len(),
        trace.slots,
        trace.peak_live / 1024,
        bytes.len() / 1024,
    );
}
