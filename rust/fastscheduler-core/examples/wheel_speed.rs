//! Timer-wheel timing at 1,000,000 timers: `cargo run --release -p fastscheduler-core --example wheel_speed`.
use fastscheduler_core::wheel::TimerWheel;
use std::time::Instant;

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn main() {
    const N: u64 = 1_000_000;
    let ds: Vec<u64> = (0..N).map(|i| 1000 + mix64(i) % 3_600_000).collect();
    for cap in [0usize, N as usize] {
        for rep in 0..2 {
            let t = Instant::now();
            let mut w = TimerWheel::with_capacity(1000, cap);
            for (id, &d) in ds.iter().enumerate() {
                w.insert(id as u64, d).unwrap();
            }
            let ti = t.elapsed();
            let bytes = w.heap_bytes();
            let t = Instant::now();
            let mut nd = 0;
            for _ in 0..1000 {
                nd ^= w.next_deadline().unwrap();
            }
            let tn = t.elapsed();
            let t = Instant::now();
            for id in (0..N).step_by(10) {
                w.cancel(id);
            }
            let tc = t.elapsed();
            let t = Instant::now();
            let mut out = Vec::new();
            let mut now = 1000;
            while !w.is_empty() {
                w.poll_into(now, &mut out);
                now += 1000;
            }
            let tp = t.elapsed();
            println!("cap={cap} rep={rep}: insert {ti:?} ({:.0} ns/op), bytes/timer {:.1}, 1000x next_deadline {tn:?} ({nd}), cancel 100k {tc:?}, poll all (3600 polls) {tp:?} ({:.0} ns/timer), out={}",
                ti.as_nanos() as f64 / N as f64, bytes as f64 / N as f64, tp.as_nanos() as f64 / out.len() as f64, out.len());
        }
    }
}
