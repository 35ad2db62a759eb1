//! What a dependent load costs on this machine, by working-set size, and how much of it
//! independent loads hide: the floor under any classifier whose structure outgrows the
//! caches. A random cyclic chain of 64-byte lines is followed by 1, 4 or 16 independent
//! walkers at once.
//!
//! `cargo run --release -p rules --example memory_latency` (pin it: `taskset -c 1 ...`).

use std::hint::black_box;
use std::time::Instant;

/// u64 words per 64-byte line: each line holds the index of the next line's first word.
const LINE: usize = 8;

/// Lines `0..lines` in one random cycle (a fixed xorshift, so runs compare).
fn chain(lines: usize) -> Vec<u64> {
    let mut order: Vec<usize> = (0..lines).collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..lines).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let mut memory = vec![0u64; lines * LINE];
    for (at, &line) in order.iter().enumerate() {
        memory[line * LINE] = (order[(at + 1) % lines] * LINE) as u64;
    }
    memory
}

/// Nanoseconds per load with `walkers` independent chains in flight.
fn ns_per_load(memory: &[u64], walkers: usize, steps: usize) -> f64 {
    let lines = memory.len() / LINE;
    let mut at: Vec<usize> = (0..walkers).map(|w| memory[(w * lines / walkers) * LINE] as usize).collect();
    let start = Instant::now();
    for _ in 0..steps {
        for position in at.iter_mut() {
            *position = memory[*position] as usize;
        }
    }
    black_box(&at);
    start.elapsed().as_secs_f64() * 1e9 / (steps * walkers) as f64
}

fn main() {
    println!("{:>9} {:>10} {:>10} {:>10}", "KiB", "1 walker", "4 walkers", "16 walkers");
    for kib in [16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768] {
        let memory = chain(kib * 1024 / 64);
        let cells: Vec<String> =
            [1, 4, 16].iter().map(|&walkers| format!("{:7.1} ns", ns_per_load(&memory, walkers, 2_000_000))).collect();
        println!("{kib:>9} {:>10} {:>10} {:>10}", cells[0], cells[1], cells[2]);
    }
}
