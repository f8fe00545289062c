//! Table-driven DST tests: both 2026 transitions of five zones, fixed-time and interval schedules.
use super::CronExpr;
use crate::civil::Civil;

/// Parse "YYYY-MM-DDTHH:MM:SSZ" into epoch seconds.
fn z(s: &str) -> i64 {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    Civil {
        year: n(0, 4) as i32,
        month: n(5, 7) as u8,
        day: n(8, 10) as u8,
        hour: n(11, 13) as u8,
        minute: n(14, 16) as u8,
        second: n(17, 19) as u8,
    }
    .to_secs()
}

fn fmt(t: i64) -> String {
    let c = Civil::from_secs(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

fn next_n(expr: &str, tz: &str, after: &str, n: usize) -> Vec<String> {
    let e = CronExpr::new(expr, tz).unwrap();
    let mut out = Vec::new();
    e.next_n_into(z(after), n, &mut out);
    out.into_iter().map(fmt).collect()
}

/// (zone, expression, start (UTC), expected next fire instants (UTC))
const CASES: &[(&str, &str, &str, &[&str])] = &[
    // America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z); 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z).
    (
        "America/New_York",
        "30 2 * * *",
        "2026-03-07T12:00:00Z",
        &["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"],
    ),
    (
        "America/New_York",
        "30 1 * * *",
        "2026-10-31T12:00:00Z",
        &["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
    ),
    (
        "America/New_York",
        "0 * * * *",
        "2026-11-01T04:30:00Z",
        &[
            "2026-11-01T05:00:00Z",
            "2026-11-01T06:00:00Z",
            "2026-11-01T07:00:00Z",
        ],
    ),
    (
        "America/New_York",
        "*/30 * * * *",
        "2026-03-08T06:00:00Z",
        &[
            "2026-03-08T06:30:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-08T07:30:00Z",
        ],
    ),
    (
        "America/New_York",
        "*/30 1 * * *",
        "2026-11-01T05:00:00Z",
        &[
            "2026-11-01T05:30:00Z",
            "2026-11-01T06:00:00Z",
            "2026-11-01T06:30:00Z",
            "2026-11-02T06:00:00Z",
        ],
    ),
    (
        "America/New_York",
        "*/30 2 * * *",
        "2026-03-08T00:00:00Z",
        &["2026-03-09T06:00:00Z"],
    ),
    // Europe/London: 2026-03-29 01:00 GMT -> 02:00 BST (01:00Z); 2026-10-25 02:00 BST -> 01:00 GMT (01:00Z).
    (
        "Europe/London",
        "30 1 * * *",
        "2026-03-28T12:00:00Z",
        &["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"],
    ),
    (
        "Europe/London",
        "30 1 * * *",
        "2026-10-24T12:00:00Z",
        &["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
    ),
    (
        "Europe/London",
        "0 * * * *",
        "2026-10-24T23:30:00Z",
        &[
            "2026-10-25T00:00:00Z",
            "2026-10-25T01:00:00Z",
            "2026-10-25T02:00:00Z",
        ],
    ),
    (
        "Europe/London",
        "15 * * * *",
        "2026-03-29T00:00:00Z",
        &["2026-03-29T00:15:00Z", "2026-03-29T01:15:00Z"],
    ),
    // Australia/Sydney (southern hemisphere): 2026-04-05 03:00 AEDT -> 02:00 AEST (16:00Z on the 4th);
    // 2026-10-04 02:00 AEST -> 03:00 AEDT (16:00Z on the 3rd).
    (
        "Australia/Sydney",
        "30 2 * * *",
        "2026-04-04T00:00:00Z",
        &["2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z"],
    ),
    (
        "Australia/Sydney",
        "30 2 * * *",
        "2026-10-03T00:00:00Z",
        &["2026-10-03T16:00:00Z", "2026-10-04T15:30:00Z"],
    ),
    (
        "Australia/Sydney",
        "0 * * * *",
        "2026-04-04T14:30:00Z",
        &[
            "2026-04-04T15:00:00Z",
            "2026-04-04T16:00:00Z",
            "2026-04-04T17:00:00Z",
        ],
    ),
    // Australia/Lord_Howe (30-minute shift): 2026-04-05 02:00 +11 -> 01:30 +10:30 (15:00Z on the 4th);
    // 2026-10-04 02:00 +10:30 -> 02:30 +11 (15:30Z on the 3rd).
    (
        "Australia/Lord_Howe",
        "45 1 * * *",
        "2026-04-04T00:00:00Z",
        &["2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"],
    ),
    (
        "Australia/Lord_Howe",
        "15 2 * * *",
        "2026-10-03T00:00:00Z",
        &["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"],
    ),
    (
        "Australia/Lord_Howe",
        "*/15 1 * * *",
        "2026-04-04T14:20:00Z",
        &[
            "2026-04-04T14:30:00Z",
            "2026-04-04T14:45:00Z",
            "2026-04-04T15:00:00Z",
            "2026-04-04T15:15:00Z",
        ],
    ),
    // Pacific/Chatham: 2026-04-05 03:45 +13:45 -> 02:45 +12:45 (14:00Z on the 4th);
    // 2026-09-27 02:45 +12:45 -> 03:45 +13:45 (14:00Z on the 26th).
    (
        "Pacific/Chatham",
        "0 3 * * *",
        "2026-04-04T00:00:00Z",
        &["2026-04-04T13:15:00Z", "2026-04-05T14:15:00Z"],
    ),
    (
        "Pacific/Chatham",
        "0 3 * * *",
        "2026-09-26T00:00:00Z",
        &["2026-09-26T14:00:00Z", "2026-09-27T13:15:00Z"],
    ),
    (
        "Pacific/Chatham",
        "0 * * * *",
        "2026-04-04T12:30:00Z",
        &[
            "2026-04-04T13:15:00Z",
            "2026-04-04T14:15:00Z",
            "2026-04-04T15:15:00Z",
        ],
    ),
];

#[test]
fn dst_table() {
    for (tz, expr, start, want) in CASES {
        let got = next_n(expr, tz, start, want.len());
        assert_eq!(&got, want, "{expr} in {tz} after {start}");
    }
}

#[test]
fn prev_is_the_inverse_of_next_across_transitions() {
    for (tz, expr, start, _) in CASES {
        let e = CronExpr::new(expr, tz).unwrap();
        let mut fires = Vec::new();
        e.next_n_into(z(start) - 3 * 86_400, 200, &mut fires);
        for w in fires.windows(2) {
            assert_eq!(
                e.last_at_or_before(w[1] - 1),
                Some(w[0]),
                "{expr} in {tz} before {}",
                fmt(w[1])
            );
            assert!(e.is_fire_time(w[0]));
            assert!(!e.is_fire_time(w[0] + 1) || w[1] == w[0] + 1);
        }
    }
}

/// Wall-clock seconds of a date-time in years 1..=9999 (no zone).
fn wall(y: i32, mo: u8, d: u8, h: u8, mi: u8) -> i64 {
    Civil {
        year: y,
        month: mo,
        day: d,
        hour: h,
        minute: mi,
        second: 0,
    }
    .to_secs()
}

/// Fire times reach the first and the last representable minute in the expression's own zone,
/// whatever its offset, and `first_at_or_after`, `last_at_or_before` and `is_fire_time` agree
/// there.
#[test]
fn first_and_last_representable_days() {
    for tz in [
        "UTC",
        "America/New_York",
        "Asia/Tokyo",
        "Pacific/Kiritimati",
        "Pacific/Pago_Pago",
    ] {
        let e = CronExpr::new("* * * * *", tz).unwrap();
        let zone = e.zone().clone();
        let first = zone.resolve(wall(1, 1, 1, 0, 0), false);
        let last = zone.resolve(wall(9999, 12, 31, 23, 59), false);
        assert_eq!(zone.to_civil(first), wall(1, 1, 1, 0, 0), "{tz}");
        assert!(e.is_fire_time(first) && e.is_fire_time(last), "{tz}");
        assert_eq!(e.first_at_or_after(i64::MIN), Some(first), "{tz}");
        assert_eq!(e.last_at_or_before(i64::MAX), Some(last), "{tz}");
        assert_eq!(e.first_at_or_after(first + 1), Some(first + 60), "{tz}");
        assert_eq!(e.first_at_or_after(last + 1), None, "{tz}");
        assert_eq!(e.last_at_or_before(first - 1), None, "{tz}");
        assert_eq!(e.last_at_or_before(last - 1), Some(last - 60), "{tz}");
        let mut out = Vec::new();
        e.next_n_into(last - 120, 5, &mut out);
        assert_eq!(out, vec![last - 60, last], "{tz}");
        let y = CronExpr::new("@yearly", tz).unwrap();
        assert_eq!(
            y.last_at_or_before(i64::MAX),
            Some(zone.resolve(wall(9999, 1, 1, 0, 0), false))
        );
        assert_eq!(
            y.last_at_or_before(zone.resolve(wall(1, 6, 1, 0, 0), false)),
            Some(first)
        );
        assert_eq!(y.first_at_or_after(i64::MIN), Some(first));
    }
    // The examples: New York's year 1 starts at 00:00 local (LMT, -4:56:02), not 19:04.
    let ny = CronExpr::new("* * * * *", "America/New_York").unwrap();
    let start = ny.zone().resolve(wall(1, 1, 1, 0, 0), false);
    assert_eq!(
        ny.zone().to_civil(ny.first_at_or_after(start + 1).unwrap()),
        wall(1, 1, 1, 0, 1)
    );
    let utc = CronExpr::new("* * * * *", "UTC").unwrap();
    assert_eq!(
        utc.first_at_or_after(wall(9999, 12, 30, 23, 59) + 1),
        Some(wall(9999, 12, 31, 0, 0))
    );
}

#[test]
fn batch_size_is_bounded() {
    use super::MAX_BATCH;
    assert_eq!(CronExpr::check_batch(0), Ok(0));
    assert_eq!(CronExpr::check_batch(MAX_BATCH), Ok(MAX_BATCH));
    assert_eq!(
        CronExpr::check_batch(1 << 62).unwrap_err().to_string(),
        "n must be at most 1000000 (got 4611686018427387904); for more fire times, call again after the last one"
    );
}
