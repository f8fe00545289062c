use std::hint::black_box;
fn main() {
    for _ in 0..200_000 {
        black_box(fastscheduler_core::cron::parse::parse(black_box("30 2 * * *")).unwrap());
    }
}
