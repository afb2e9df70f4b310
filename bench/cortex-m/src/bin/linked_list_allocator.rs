//! linked_list_allocator 0.10 against the workload.
#![no_std]
#![no_main]

cortex_m_bench::bench_main!(cortex_m_bench::adapters::LinkedList);
