use std::hint::black_box;
fn main() {
    let c = fastscheduler_core::cron::CronExpr::new("0 0 1,15 * *", "America/New_York").unwrap();
    let mut x = 1_772_000_000;
    for _ in 0..100_000 {
        x = black_box(c.first_at_or_after(black_box(x + 1)).unwrap());
    }
}
