//! Quick pure-Rust timing of the cron hot paths: `cargo run --release --example speed`.
use fastscheduler_core::cron::CronExpr;
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let exprs = [
        "*/5 * * * *",
        "0 9 * * MON-FRI",
        "30 2 * * *",
        "0 0 1,15 * *",
        "15 */2 * * SUN",
    ];
    for zone in ["UTC", "America/New_York"] {
        for e in exprs {
            let n = 100_000;
            let t = Instant::now();
            for _ in 0..n {
                black_box(CronExpr::new(black_box(e), zone).unwrap());
            }
            let parse = t.elapsed().as_nanos() as f64 / n as f64;
            let c = CronExpr::new(e, zone).unwrap();
            let mut out = Vec::with_capacity(1_000_000);
            let t = Instant::now();
            c.next_n_into(1_772_000_000, 200_000, &mut out);
            let batch = t.elapsed().as_nanos() as f64 / out.len() as f64;
            let t = Instant::now();
            let mut x = 1_772_000_000;
            for _ in 0..n {
                x = c.first_at_or_after(x + 1).unwrap();
            }
            let single = t.elapsed().as_nanos() as f64 / n as f64;
            let t = Instant::now();
            for _ in 0..n {
                black_box(fastscheduler_core::cron::parse::parse(black_box(e)).unwrap());
            }
            let spec_only = t.elapsed().as_nanos() as f64 / n as f64;
            let t = Instant::now();
            for _ in 0..n {
                black_box(fastscheduler_core::tz::Zone::get(black_box(zone)).unwrap());
            }
            let zone_only = t.elapsed().as_nanos() as f64 / n as f64;
            println!("{zone:18} {e:18} parse {parse:6.0} ns (spec {spec_only:4.0}, zone {zone_only:4.0})  batch {batch:5.1} ns/fire  single {single:5.1} ns");
        }
    }
}
