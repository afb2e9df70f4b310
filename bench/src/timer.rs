//! A cheap per-operation timer.
//!
//! On x86-64 this reads the time-stamp counter fenced on both sides, `lfence; rdtsc; lfence`
//! (lfence waits for every earlier instruction to finish, so the operation can neither start
//! before the first read nor still be running at the second). Reading it costs a few nanoseconds, against ~20 ns for `Instant::now`
//! (a vDSO `clock_gettime`), which would swamp a 10 ns allocation. The TSC runs at a constant
//! rate on every x86-64 CPU of the last decade (`constant_tsc`, `nonstop_tsc` in `/proc/cpuinfo`),
//! so ticks convert to nanoseconds with one factor, calibrated against `Instant` at start-up.
//! The cost of an empty measurement is measured too and subtracted.
//!
//! Elsewhere the timer falls back to `Instant` (coarser; stated in the report).

use std::time::{Duration, Instant};

/// Reads the clock before an operation.
#[inline(always)]
pub fn start() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_lfence, _rdtsc};
        // SAFETY: `lfence` and `rdtsc` exist on every x86-64 CPU and touch no memory.
        unsafe {
            _mm_lfence();
            _rdtsc()
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        fallback_now()
    }
}

/// Reads the clock after an operation.
#[inline(always)]
pub fn stop() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_lfence, _rdtsc};
        // SAFETY: `lfence` and `rdtsc` exist on every x86-64 CPU and touch no memory.
        unsafe {
            _mm_lfence();
            let t = _rdtsc();
            _mm_lfence();
            t
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        fallback_now()
    }
}

/// Reads the clock without fences (only to find its resolution: back-to-back reads).
fn raw() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` exists on every x86-64 CPU and touches no memory.
        unsafe { std::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        fallback_now()
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn fallback_now() -> u64 {
    use std::sync::OnceLock;
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// The tick rate and the cost of an empty measurement.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Clock {
    /// Ticks per nanosecond.
    pub ticks_per_ns: f64,
    /// Median ticks of `stop() - start()` with nothing in between; subtracted from each sample.
    pub overhead_ticks: u64,
    /// Smallest non-zero step between two readings, in ticks (some hypervisors advance the
    /// counter in coarse steps; latencies are quantised to it).
    pub resolution_ticks: u64,
    /// Which counter: "rdtsc" or "Instant".
    pub source: String,
}

impl Clock {
    /// Measures the tick rate against `Instant` over `window`, and the empty-measurement cost.
    pub fn calibrate(window: Duration) -> Clock {
        let t0 = Instant::now();
        let c0 = start();
        while t0.elapsed() < window {
            std::hint::spin_loop();
        }
        let c1 = stop();
        let ns = t0.elapsed().as_nanos() as f64;
        let ticks_per_ns = (c1 - c0) as f64 / ns;
        let mut empty: Vec<u64> = (0..10_000)
            .map(|_| {
                let a = start();
                let b = stop();
                b - a
            })
            .collect();
        empty.sort_unstable();
        let mut resolution_ticks = u64::MAX;
        let mut last = raw();
        for _ in 0..100_000 {
            let now = raw();
            if now > last {
                resolution_ticks = resolution_ticks.min(now - last);
            }
            last = now;
        }
        let source = if cfg!(target_arch = "x86_64") { "rdtsc" } else { "Instant" }.to_owned();
        Clock { ticks_per_ns, overhead_ticks: empty[empty.len() / 2], resolution_ticks, source }
    }

    /// Converts a measured interval to nanoseconds, minus the measurement overhead.
    pub fn to_ns(&self, ticks: u64) -> f64 {
        ticks.saturating_sub(self.overhead_ticks) as f64 / self.ticks_per_ns
    }

    /// The resolution in nanoseconds.
    pub fn resolution_ns(&self) -> f64 {
        self.resolution_ticks as f64 / self.ticks_per_ns
    }

    /// The overhead in nanoseconds.
    pub fn overhead_ns(&self) -> f64 {
        self.overhead_ticks as f64 / self.ticks_per_ns
    }
}
