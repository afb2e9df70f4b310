//! A compact allocation trace: what a real program asked its allocator, replayable anywhere.
//!
//! # Format (`.bhtrace`, little-endian LEB128 varints)
//!
//! ```text
//! magic   b"BHTRACE1"
//! varint  number of events
//! varint  number of slots (most blocks live at once)
//! varint  peak live payload bytes
//! events: u8 tag, then
//!   0 alloc    varint slot, varint size, u8 log2(align)
//!   1 free     varint slot
//!   2 realloc  varint slot, varint new size
//! ```
//!
//! A slot names a live block; the recorder reuses freed slots (most recently freed first), so slot
//! numbers stay small and the replayer needs only a table as large as the peak live count.

use std::collections::HashMap;

/// One event of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Allocate a block into an empty slot.
    Alloc {
        /// Slot that will hold the block.
        slot: u32,
        /// Bytes.
        size: u32,
        /// log2 of the alignment.
        align_log2: u8,
    },
    /// Free the block in a slot.
    Free {
        /// Slot.
        slot: u32,
    },
    /// Resize the block in a slot (same alignment).
    Realloc {
        /// Slot.
        slot: u32,
        /// New size in bytes.
        new_size: u32,
    },
}

/// A decoded trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// Size of the slot table a replay needs.
    pub slots: usize,
    /// Peak sum of live requested sizes.
    pub peak_live: u64,
    /// The events in program order.
    pub events: Vec<Event>,
}

const MAGIC: &[u8; 8] = b"BHTRACE1";

/// What the recording allocator saw, with raw addresses.
#[derive(Clone, Copy, Debug)]
pub enum RawEvent {
    /// `alloc`/`alloc_zeroed` returned `ptr` for `size`/`align`.
    Alloc {
        /// Returned address.
        ptr: usize,
        /// Bytes.
        size: usize,
        /// Alignment.
        align: usize,
    },
    /// `dealloc(ptr)`.
    Free {
        /// Address.
        ptr: usize,
    },
    /// `realloc(ptr) -> new_ptr` of `new_size` bytes.
    Realloc {
        /// Old address.
        ptr: usize,
        /// New address.
        new_ptr: usize,
        /// New size.
        new_size: usize,
    },
}

impl Trace {
    /// Turns raw addresses into slots. Frees and reallocs of blocks allocated before recording
    /// began are dropped (they are not part of the workload); a zero-size request is recorded
    /// as one byte (std never makes one; the workloads require `size > 0`).
    pub fn from_raw(raw: &[RawEvent]) -> Trace {
        let mut slot_of: HashMap<usize, (u32, u64)> = HashMap::new();
        let mut free_slots: Vec<u32> = Vec::new();
        let mut slots = 0u32;
        let (mut live, mut peak_live) = (0u64, 0u64);
        let mut events = Vec::with_capacity(raw.len());
        for ev in raw {
            match *ev {
                RawEvent::Alloc { ptr, size, align } => {
                    let slot = free_slots.pop().unwrap_or_else(|| {
                        slots += 1;
                        slots - 1
                    });
                    let size = size.max(1) as u64;
                    slot_of.insert(ptr, (slot, size));
                    live += size;
                    peak_live = peak_live.max(live);
                    events.push(Event::Alloc {
                        slot,
                        size: size as u32,
                        align_log2: align.trailing_zeros() as u8,
                    });
                }
                RawEvent::Free { ptr } => {
                    if let Some((slot, size)) = slot_of.remove(&ptr) {
                        live -= size;
                        free_slots.push(slot);
                        events.push(Event::Free { slot });
                    }
                }
                RawEvent::Realloc { ptr, new_ptr, new_size } => {
                    if let Some((slot, size)) = slot_of.remove(&ptr) {
                        let new_size = new_size.max(1) as u64;
                        slot_of.insert(new_ptr, (slot, new_size));
                        live = live - size + new_size;
                        peak_live = peak_live.max(live);
                        events.push(Event::Realloc { slot, new_size: new_size as u32 });
                    }
                }
            }
        }
        Trace { slots: slots as usize, peak_live, events }
    }

    /// Serialises the trace.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.events.len() * 5 + 32);
        out.extend_from_slice(MAGIC);
        put(&mut out, self.events.len() as u64);
        put(&mut out, self.slots as u64);
        put(&mut out, self.peak_live);
        for ev in &self.events {
            match *ev {
                Event::Alloc { slot, size, align_log2 } => {
                    out.push(0);
                    put(&mut out, slot.into());
                    put(&mut out, size.into());
                    out.push(align_log2);
                }
                Event::Free { slot } => {
                    out.push(1);
                    put(&mut out, slot.into());
                }
                Event::Realloc { slot, new_size } => {
                    out.push(2);
                    put(&mut out, slot.into());
                    put(&mut out, new_size.into());
                }
            }
        }
        out
    }

    /// Parses a trace, checking that it is well formed: slots in range, no alloc into an
    /// occupied slot, no free or realloc of an empty one.
    ///
    /// # Errors
    ///
    /// A message naming the first problem.
    pub fn decode(bytes: &[u8]) -> Result<Trace, String> {
        let rest = bytes.strip_prefix(MAGIC).ok_or("not a bareheap trace (bad magic)")?;
        let mut r = Reader(rest);
        let count = r.varint()? as usize;
        let slots = r.varint()? as usize;
        let peak_live = r.varint()?;
        let mut occupied = vec![false; slots];
        let mut events = Vec::with_capacity(count);
        for i in 0..count {
            let tag = r.byte()?;
            let slot = r.varint()?;
            let s = usize::try_from(slot).ok().filter(|&s| s < slots);
            let s = s.ok_or_else(|| format!("event {i}: slot {slot} out of range"))?;
            let slot = slot as u32;
            let ev = match tag {
                0 => {
                    let size = r.u32()?;
                    let align_log2 = r.byte()?;
                    if occupied[s] || size == 0 || align_log2 > 20 {
                        return Err(format!("event {i}: bad alloc"));
                    }
                    occupied[s] = true;
                    Event::Alloc { slot, size, align_log2 }
                }
                1 if occupied[s] => {
                    occupied[s] = false;
                    Event::Free { slot }
                }
                2 if occupied[s] => {
                    let new_size = r.u32()?;
                    if new_size == 0 {
                        return Err(format!("event {i}: realloc to zero"));
                    }
                    Event::Realloc { slot, new_size }
                }
                _ => return Err(format!("event {i}: bad tag {tag} or empty slot {slot}")),
            };
            events.push(ev);
        }
        if !r.0.is_empty() {
            return Err("trailing bytes after the last event".into());
        }
        Ok(Trace { slots, peak_live, events })
    }
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let (&b, rest) = self.0.split_first().ok_or("truncated trace")?;
        self.0 = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn u32(&mut self) -> Result<u32, String> {
        u32::try_from(self.varint()?).map_err(|_| "size over 4 GiB".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trips() {
        let raw = [
            RawEvent::Alloc { ptr: 0x1000, size: 24, align: 8 },
            RawEvent::Alloc { ptr: 0x2000, size: 300, align: 16 },
            RawEvent::Realloc { ptr: 0x1000, new_ptr: 0x3000, new_size: 48 },
            RawEvent::Free { ptr: 0x2000 },
            RawEvent::Free { ptr: 0x9999 }, // allocated before recording: dropped
            RawEvent::Alloc { ptr: 0x2000, size: 1 << 20, align: 4096 },
        ];
        let t = Trace::from_raw(&raw);
        assert_eq!(t.slots, 2);
        assert_eq!(t.peak_live, 48 + (1 << 20));
        assert_eq!(t.events.len(), 5);
        assert_eq!(t.events[4], Event::Alloc { slot: 1, size: 1 << 20, align_log2: 12 });
        assert_eq!(Trace::decode(&t.encode()).unwrap(), t);
    }

    #[test]
    fn decode_free_of_empty_slot_is_rejected() {
        let t = Trace { slots: 1, peak_live: 0, events: vec![Event::Free { slot: 0 }] };
        assert!(Trace::decode(&t.encode()).is_err());
        assert!(Trace::decode(b"BHTRACE1\x05").is_err());
        assert!(Trace::decode(b"nope").is_err());
    }
}
