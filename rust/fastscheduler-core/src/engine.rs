//! The job table: every job's trigger, next fire time, pause flag and counters, with the timer
//! wheel deciding which jobs are due.
//!
//! Times are microseconds since the Unix epoch (UTC). Each job keeps its exact next fire time in
//! microseconds; the wheel ([`crate::wheel::TimerWheel`]) works in milliseconds and holds each
//! scheduled job at the *ceiling* of its next fire to the millisecond, so a job is never taken
//! out of the wheel after its tick has passed. Due-ness is then decided by the exact microseconds.
//!
//! Two places hold a scheduled (live, unpaused, with a next fire) job, and which one is fixed by
//! one invariant: a job whose tick is `<= wheel.now()` is in the *front*, a small ordered set of
//! `(next_us, key)`; every other is in the wheel (never in the wheel's pending list). The wheel's
//! time only moves forward when it is polled, and a poll moves every timer up to the new time
//! into the front (or straight out, when it is due). The earliest job is the front's first
//! element, or, when the front is empty, among the wheel's earliest tick, which
//! [`JobTable::next_deadline_us`] moves into the front (one poll, O(levels) plus the jobs of that
//! tick). Normally the front holds the jobs of the earliest millisecond or so. When that query
//! moved the wheel's time to a tick well in the future (the earliest job is far ahead), jobs
//! added afterwards that are due before it also go to the front, until time passes that tick:
//! still exact and ordered, at O(log n) per operation instead of O(1), about as fast and small
//! as the wheel at a million jobs.
//!
//! Jobs live in a slab whose freed slots are reused. A key is `generation << 32 | slot`: the
//! generation changes when a slot is freed, so a stale key never names the slot's next job.
//!
//! Firing is fixed-rate, by [`Trigger::advance`] (the same rule a cluster applies to the fires it
//! claims): after a fire scheduled at `s`, the next is `trigger.next_after(s)`, not computed from
//! the time the job was popped, so lateness never drifts the grid. A job popped more than one
//! period late fires once; the other fires in `(s, now]` are coalesced and counted in
//! [`Due::missed`] (at most [`MISSED_CAP`]), and its next fire is the first after `now`.
use crate::error::{CoreError, Result};
use crate::trigger::Trigger;
use crate::wheel::{TimerWheel, MAX_TIMERS};
use std::collections::BTreeSet;

pub use crate::trigger::MISSED_CAP;

/// "No next fire" in [`Entry::next_us`]. `Trigger::next_after(t)` is always `> t`, so it never
/// returns `i64::MIN`.
const NONE: i64 = i64::MIN;

/// Slot states.
const FREE: u8 = 0;
const ACTIVE: u8 = 1;
const PAUSED: u8 = 2;

/// One job. 64 bytes.
#[derive(Debug, Clone)]
struct Entry {
    trigger: Trigger,
    /// The exact next fire time, or [`NONE`]. Kept while paused, for display.
    next_us: i64,
    runs: u64,
    failures: u64,
    retries: u64,
    generation: u32,
    state: u8,
}

/// A job popped by [`JobTable::pop_due`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub key: u64,
    /// The fire time this run stands for (not the time it was popped).
    pub scheduled_us: i64,
    /// Fires in `(scheduled_us, now]` that were coalesced into this one (capped at
    /// [`MISSED_CAP`]).
    pub missed: u64,
}

/// The wheel tick of a fire time: the ceiling to the millisecond, 0 for instants before 1970.
fn tick(us: i64) -> u64 {
    let ms = us.div_euclid(1000) + i64::from(us.rem_euclid(1000) != 0);
    u64::try_from(ms).unwrap_or(0)
}

fn key_of(slot: u32, generation: u32) -> u64 {
    u64::from(generation) << 32 | u64::from(slot)
}

/// A table of jobs and their schedule (see the module documentation).
#[derive(Debug)]
pub struct JobTable {
    slab: Vec<Entry>,
    /// Freed slots, reused last-freed first.
    free: Vec<u32>,
    len: usize,
    /// Scheduled jobs whose tick is after `wheel.now()`, at that tick.
    wheel: TimerWheel,
    /// Scheduled jobs whose tick is `<= wheel.now()`, as `(next_us, key)`.
    front: BTreeSet<(i64, u64)>,
    /// Scratch space for polls of the wheel.
    polled: Vec<(u64, u64)>,
    /// Scratch space for the due jobs of a pop.
    due: Vec<(i64, u64)>,
}

impl Default for JobTable {
    fn default() -> Self {
        JobTable::new(0)
    }
}

impl JobTable {
    /// An empty table; `now_us` is where the wheel's time starts (times before it still work).
    pub fn new(now_us: i64) -> JobTable {
        JobTable::with_capacity(now_us, 0)
    }

    /// An empty table with room for `capacity` jobs (a hint).
    pub fn with_capacity(now_us: i64, capacity: usize) -> JobTable {
        let capacity = capacity.min(MAX_TIMERS);
        let mut slab = Vec::new();
        let _ = slab.try_reserve_exact(capacity);
        JobTable {
            slab,
            free: Vec::new(),
            len: 0,
            wheel: TimerWheel::with_capacity(tick(now_us).saturating_sub(1), capacity),
            front: BTreeSet::new(),
            polled: Vec::new(),
            due: Vec::new(),
        }
    }

    /// The number of jobs (paused and finished ones included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no job.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of heap held by the table: slab, free list, wheel, front (estimated at 48 bytes an
    /// element) and scratch buffers. Boxed cron triggers are not counted.
    pub fn heap_bytes(&self) -> usize {
        self.slab.capacity() * std::mem::size_of::<Entry>()
            + self.free.capacity() * std::mem::size_of::<u32>()
            + self.wheel.heap_bytes()
            + self.front.len() * 48
            + self.polled.capacity() * std::mem::size_of::<(u64, u64)>()
            + self.due.capacity() * std::mem::size_of::<(i64, u64)>()
    }

    /// The slot of a live job.
    fn slot(&self, key: u64) -> Option<usize> {
        let slot = (key & u64::from(u32::MAX)) as usize;
        let e = self.slab.get(slot)?;
        (e.state != FREE && u64::from(e.generation) == key >> 32).then_some(slot)
    }

    /// Take a scheduled job out of the front or the wheel.
    fn unplace(&mut self, key: u64, next_us: i64) {
        if tick(next_us) <= self.wheel.now() {
            self.front.remove(&(next_us, key));
        } else {
            self.wheel.cancel(key);
        }
    }

    /// Move jobs the wheel gave (`(key, tick)` pairs) into the front: built as a set from sorted
    /// order and merged in one step, which for the 100,000 jobs of one tick costs a sort instead
    /// of 100,000 tree insertions.
    fn move_to_front(&mut self, polled: &[(u64, u64)]) {
        let mut moved: Vec<(i64, u64)> = polled
            .iter()
            .filter_map(|&(key, _)| Some((self.slab[self.slot(key)?].next_us, key)))
            .collect();
        moved.sort_unstable();
        let mut moved: BTreeSet<(i64, u64)> = moved.into_iter().collect();
        self.front.append(&mut moved);
    }

    /// Put a scheduled job in the front or the wheel.
    fn place(&mut self, key: u64, next_us: i64) {
        let t = tick(next_us);
        if t <= self.wheel.now() {
            self.front.insert((next_us, key));
        } else if self.wheel.insert(key, t).is_err() {
            // Unreachable: the table holds at most MAX_TIMERS jobs, so the wheel is never full.
            // Keeping the job in the front would only make it due early, never lose it.
            self.front.insert((next_us, key));
        }
    }

    /// Whether nothing is scheduled (front and wheel empty).
    fn nothing_scheduled(&self) -> bool {
        self.front.is_empty() && self.wheel.is_empty()
    }

    /// When nothing is scheduled and `next_us` is behind the wheel's time (a manual clock set in
    /// the past), start a fresh wheel just before it, so that the wheel rather than the front
    /// keeps the jobs.
    fn rebase(&mut self, next_us: i64) {
        let t = tick(next_us);
        if t <= self.wheel.now() && self.nothing_scheduled() {
            self.wheel = TimerWheel::new(t.saturating_sub(1));
        }
    }

    /// Add a job firing first at `trigger.next_after(after_us)`; returns its key. A trigger with
    /// no fire after `after_us` gives a job that never fires (it stays until removed).
    pub fn add(&mut self, trigger: Trigger, after_us: i64) -> Result<u64> {
        if self.len >= MAX_TIMERS {
            return Err(CoreError::OutOfRange(format!(
                "the job table is full: it holds at most {MAX_TIMERS} jobs"
            )));
        }
        let next = trigger.next_after(after_us);
        let mut entry = Entry {
            trigger,
            next_us: next.unwrap_or(NONE),
            runs: 0,
            failures: 0,
            retries: 0,
            generation: 0,
            state: ACTIVE,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                entry.generation = self.slab[slot as usize].generation;
                self.slab[slot as usize] = entry;
                slot
            }
            None => {
                self.slab.push(entry);
                (self.slab.len() - 1) as u32
            }
        };
        self.len += 1;
        let key = key_of(slot, self.slab[slot as usize].generation);
        if let Some(next) = next {
            self.rebase(next);
            self.place(key, next);
        }
        Ok(key)
    }

    /// Remove a job; false if there is no such job.
    pub fn remove(&mut self, key: u64) -> bool {
        let Some(slot) = self.slot(key) else {
            return false;
        };
        let e = &self.slab[slot];
        let (state, next) = (e.state, e.next_us);
        if state == ACTIVE && next != NONE {
            self.unplace(key, next);
        }
        let e = &mut self.slab[slot];
        e.state = FREE;
        e.generation = e.generation.wrapping_add(1);
        e.trigger = Trigger::Date { at_us: 0 };
        e.next_us = NONE;
        self.free.push(slot as u32);
        self.len -= 1;
        true
    }

    /// Pause a job: it keeps its next fire time (for display) but is not due until resumed.
    /// False if there is no such job; pausing a paused job changes nothing.
    pub fn pause(&mut self, key: u64) -> bool {
        let Some(slot) = self.slot(key) else {
            return false;
        };
        let e = &self.slab[slot];
        if e.state == ACTIVE {
            let next = e.next_us;
            if next != NONE {
                self.unplace(key, next);
            }
            self.slab[slot].state = PAUSED;
        }
        true
    }

    /// Resume a paused job: its next fire is the first of its trigger's own fire times strictly
    /// after `now_us` (so it never fires at once, and an interval stays on its grid). False if
    /// there is no such job; resuming a job that is not paused changes nothing.
    pub fn resume(&mut self, key: u64, now_us: i64) -> bool {
        let Some(slot) = self.slot(key) else {
            return false;
        };
        if self.slab[slot].state == PAUSED {
            let next = self.slab[slot].trigger.next_after(now_us);
            let e = &mut self.slab[slot];
            e.state = ACTIVE;
            e.next_us = next.unwrap_or(NONE);
            if let Some(next) = next {
                self.rebase(next);
                self.place(key, next);
            }
        }
        true
    }

    /// A job's next fire time (also while paused); `None` for an unknown key or a job with no
    /// fire left.
    pub fn next_fire_us(&self, key: u64) -> Option<i64> {
        let e = &self.slab[self.slot(key)?];
        (e.next_us != NONE).then_some(e.next_us)
    }

    /// Whether a job is paused; `None` for an unknown key.
    pub fn is_paused(&self, key: u64) -> Option<bool> {
        self.slot(key).map(|s| self.slab[s].state == PAUSED)
    }

    /// A copy of a job's trigger.
    pub fn trigger(&self, key: u64) -> Option<Trigger> {
        self.slot(key).map(|s| self.slab[s].trigger.clone())
    }

    /// The exact time of the earliest fire of all unpaused jobs, or `None` when nothing is
    /// scheduled. O(log front) while the front holds a job; otherwise one poll of the wheel up to
    /// its earliest tick, which moves that tick's jobs into the front.
    pub fn next_deadline_us(&mut self) -> Option<i64> {
        if let Some(&(us, _)) = self.front.first() {
            return Some(us);
        }
        let t = self.wheel.next_deadline()?;
        let mut polled = std::mem::take(&mut self.polled);
        polled.clear();
        self.wheel.poll_into(t, &mut polled);
        self.move_to_front(&polled);
        self.polled = polled;
        self.front.first().map(|&(us, _)| us)
    }

    /// Append to `out` every unpaused job whose next fire is `<= now_us`, in
    /// `(scheduled_us, key)` order, and schedule each one's next fire (fixed-rate, with
    /// coalescing: see the module documentation).
    pub fn pop_due(&mut self, now_us: i64, out: &mut Vec<Due>) {
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        let t = tick(now_us);
        if self.wheel.next_deadline().is_some_and(|d| d <= t) {
            let mut polled = std::mem::take(&mut self.polled);
            polled.clear();
            self.wheel.poll_into(t, &mut polled);
            for &(key, _) in &polled {
                let Some(slot) = self.slot(key) else { continue };
                let us = self.slab[slot].next_us;
                if us <= now_us {
                    due.push((us, key));
                } else {
                    self.front.insert((us, key));
                }
            }
            self.polled = polled;
        }
        if self.front.first().is_some_and(|&(us, _)| us <= now_us) {
            // All of the front's due part at once (100,000 jobs of one tick: a split and a walk,
            // not 100,000 pops); it is sorted, and so is what the wheel gave unless both gave.
            let later = match now_us.checked_add(1) {
                Some(after) => self.front.split_off(&(after, 0)),
                None => BTreeSet::new(),
            };
            let from_wheel = due.len();
            due.extend(std::mem::replace(&mut self.front, later));
            if from_wheel > 0 {
                due.sort_unstable();
            }
        } else {
            due.sort_unstable();
        }
        out.reserve(due.len());
        for &(us, key) in &due {
            let Some(slot) = self.slot(key) else { continue };
            let (next, missed) = self.slab[slot].trigger.advance(us, now_us);
            self.slab[slot].next_us = next.unwrap_or(NONE);
            if let Some(next) = next {
                self.place(key, next);
            }
            out.push(Due {
                key,
                scheduled_us: us,
                missed,
            });
        }
        self.due = due;
    }

    /// Count a finished run, failed unless `ok`. False if there is no such job.
    pub fn record_run(&mut self, key: u64, ok: bool) -> bool {
        let Some(slot) = self.slot(key) else {
            return false;
        };
        let e = &mut self.slab[slot];
        e.runs = e.runs.saturating_add(1);
        if !ok {
            e.failures = e.failures.saturating_add(1);
        }
        true
    }

    /// Count a retry. False if there is no such job.
    pub fn record_retry(&mut self, key: u64) -> bool {
        let Some(slot) = self.slot(key) else {
            return false;
        };
        let e = &mut self.slab[slot];
        e.retries = e.retries.saturating_add(1);
        true
    }

    /// Set a job's counters (restoring a stored job). False if there is no such job.
    pub fn set_counters(&mut self, key: u64, runs: u64, failures: u64, retries: u64) -> bool {
        let Some(slot) = self.slot(key) else {
            return false;
        };
        let e = &mut self.slab[slot];
        (e.runs, e.failures, e.retries) = (runs, failures, retries);
        true
    }

    /// `(runs, failures, retries)` of a job.
    pub fn counters(&self, key: u64) -> Option<(u64, u64, u64)> {
        let e = &self.slab[self.slot(key)?];
        Some((e.runs, e.failures, e.retries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cron::CronExpr;
    use proptest::prelude::*;

    #[test]
    fn set_counters_restores_a_job() {
        let mut t = JobTable::new(0);
        let k = t.add(Trigger::Date { at_us: 10 * S }, 0).unwrap();
        assert!(t.set_counters(k, 3, 1, 2));
        assert_eq!(t.counters(k), Some((3, 1, 2)));
        assert!(t.record_run(k, true));
        assert_eq!(t.counters(k), Some((4, 1, 2)));
        assert!(t.remove(k));
        assert!(!t.set_counters(k, 1, 1, 1));
    }

    const MS: i64 = 1000;
    const S: i64 = 1_000_000;
    /// 2026-01-01T00:00:00Z in microseconds.
    const T0: i64 = 1_767_225_600 * S;

    fn every(period_us: i64, anchor_us: i64) -> Trigger {
        Trigger::interval(period_us, anchor_us).unwrap()
    }

    fn pop(t: &mut JobTable, now: i64) -> Vec<Due> {
        let mut out = Vec::new();
        t.pop_due(now, &mut out);
        out
    }

    fn due(key: u64, scheduled_us: i64, missed: u64) -> Due {
        Due {
            key,
            scheduled_us,
            missed,
        }
    }

    #[test]
    fn entry_is_small() {
        assert_eq!(std::mem::size_of::<Trigger>(), 24);
        assert_eq!(std::mem::size_of::<Entry>(), 64);
    }

    #[test]
    fn a_tick_of_many_jobs_pops_at_once_in_order() {
        // 5,000 jobs within one tick (microseconds apart) and 5,000 on the tick's last
        // microsecond: the deadline moves them all to the front at once, and a pop in the middle
        // of the tick takes exactly the due part, in (scheduled, key) order.
        let mut t = JobTable::new(T0);
        let tick_start = T0 + S - 999;
        let spread: Vec<u64> = (0..5000)
            .map(|i| {
                t.add(
                    Trigger::Date {
                        at_us: tick_start + i % 999,
                    },
                    T0,
                )
                .unwrap()
            })
            .collect();
        let last: Vec<u64> = (0..5000)
            .map(|_| t.add(every(S, T0 + S), T0).unwrap())
            .collect();
        assert_eq!(t.next_deadline_us(), Some(tick_start));
        let mid = tick_start + 500;
        let mut want: Vec<Due> = spread
            .iter()
            .enumerate()
            .map(|(i, &k)| due(k, tick_start + (i % 999) as i64, 0))
            .filter(|d| d.scheduled_us <= mid)
            .collect();
        want.sort_by_key(|d| (d.scheduled_us, d.key));
        assert_eq!(pop(&mut t, mid), want);
        let rest = pop(&mut t, T0 + S);
        assert_eq!(rest.len(), 10_000 - want.len());
        assert!(rest
            .windows(2)
            .all(|w| (w[0].scheduled_us, w[0].key) < (w[1].scheduled_us, w[1].key)));
        assert!(rest.iter().rev().take(5000).all(|d| last.contains(&d.key)));
        assert_eq!(t.next_deadline_us(), Some(T0 + 2 * S));
        assert_eq!(pop(&mut t, T0 + 2 * S).len(), 5000);
    }

    #[test]
    fn tick_is_the_millisecond_ceiling() {
        assert_eq!(tick(0), 0);
        assert_eq!(tick(1), 1);
        assert_eq!(tick(999), 1);
        assert_eq!(tick(1000), 1);
        assert_eq!(tick(1001), 2);
        assert_eq!(tick(-1), 0);
        assert_eq!(tick(i64::MIN), 0);
        assert_eq!(tick(i64::MAX), (i64::MAX / 1000 + 1) as u64);
    }

    #[test]
    fn add_remove_and_stale_keys() {
        let mut t = JobTable::new(T0);
        let a = t.add(every(S, T0 + S), T0).unwrap();
        let b = t.add(every(2 * S, T0), T0).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.next_fire_us(a), Some(T0 + S));
        assert_eq!(t.next_fire_us(b), Some(T0 + 2 * S));
        assert_eq!(t.next_deadline_us(), Some(T0 + S));
        assert!(t.remove(a));
        assert!(!t.remove(a));
        assert_eq!(t.next_deadline_us(), Some(T0 + 2 * S));
        // The freed slot is reused under a new key; the old key names nothing.
        let c = t.add(Trigger::Date { at_us: T0 + 5 }, T0).unwrap();
        assert_ne!(c, a);
        assert_eq!(c & 0xFFFF_FFFF, a & 0xFFFF_FFFF);
        assert_eq!(t.next_fire_us(a), None);
        assert_eq!(t.is_paused(a), None);
        assert!(!t.pause(a) && !t.resume(a, T0));
        assert!(!t.record_run(a, true) && !t.record_retry(a));
        assert_eq!(t.counters(a), None);
        assert_eq!(t.next_deadline_us(), Some(T0 + 5));
        assert_eq!(t.trigger(c), Some(Trigger::Date { at_us: T0 + 5 }));
        assert_eq!(t.len(), 2);
        assert!(t.remove(b) && t.remove(c));
        assert!(t.is_empty());
        assert_eq!(t.next_deadline_us(), None);
        assert_eq!(pop(&mut t, i64::MAX), vec![]);
        // Keys that were never given out.
        for k in [0, 1, u64::MAX, 5 << 32] {
            assert!(!t.remove(k));
        }
    }

    #[test]
    fn exact_microseconds_inside_one_millisecond() {
        let mut t = JobTable::new(T0);
        let late = t.add(Trigger::Date { at_us: T0 + 700 }, T0).unwrap();
        let early = t.add(Trigger::Date { at_us: T0 + 300 }, T0).unwrap();
        let next_ms = t.add(Trigger::Date { at_us: T0 + 1000 }, T0).unwrap();
        assert_eq!(t.next_deadline_us(), Some(T0 + 300));
        assert_eq!(pop(&mut t, T0 + 299), vec![]);
        assert_eq!(pop(&mut t, T0 + 500), vec![due(early, T0 + 300, 0)]);
        assert_eq!(t.next_deadline_us(), Some(T0 + 700));
        // Added inside the already polled millisecond: still exact.
        let mid = t.add(Trigger::Date { at_us: T0 + 600 }, T0 + 500).unwrap();
        assert_eq!(t.next_deadline_us(), Some(T0 + 600));
        assert_eq!(
            pop(&mut t, T0 + 1000),
            vec![
                due(mid, T0 + 600, 0),
                due(late, T0 + 700, 0),
                due(next_ms, T0 + 1000, 0)
            ]
        );
        assert_eq!(t.next_deadline_us(), None);
        // One-shots stay, with no next fire, until removed.
        assert_eq!(t.len(), 4);
        assert_eq!(t.next_fire_us(early), None);
        assert_eq!(t.is_paused(early), Some(false));
    }

    #[test]
    fn fixed_rate_does_not_drift() {
        let mut t = JobTable::new(T0);
        let k = t.add(every(100 * MS, T0), T0 - 1).unwrap();
        let mut sched = Vec::new();
        let mut now = T0;
        for i in 0..50 {
            // Popped 0..90 ms late each time: the schedule stays on the 100 ms grid.
            now = now.max(t.next_deadline_us().unwrap()) + (i * 37 % 91) * MS;
            for d in pop(&mut t, now) {
                assert_eq!(d.missed, 0);
                sched.push(d.scheduled_us);
            }
        }
        assert_eq!(sched.len(), 50);
        for (i, s) in sched.iter().enumerate() {
            assert_eq!(*s, T0 + i as i64 * 100 * MS);
        }
        assert_eq!(t.next_fire_us(k), Some(T0 + 5000 * MS));
    }

    #[test]
    fn late_fires_are_coalesced() {
        let mut t = JobTable::new(T0);
        let k = t.add(every(S, T0 + S), T0).unwrap();
        // Late by 3.5 periods: one fire for T0+1s, fires at 2, 3, 4 s coalesced.
        assert_eq!(pop(&mut t, T0 + 4 * S + S / 2), vec![due(k, T0 + S, 3)]);
        assert_eq!(t.next_fire_us(k), Some(T0 + 5 * S));
        // Late by less than a period: nothing missed.
        assert_eq!(pop(&mut t, T0 + 5 * S + S / 2), vec![due(k, T0 + 5 * S, 0)]);
        assert_eq!(t.next_fire_us(k), Some(T0 + 6 * S));
        // Exactly on the next grid point: that fire is missed too.
        assert_eq!(pop(&mut t, T0 + 7 * S), vec![due(k, T0 + 6 * S, 1)]);
        assert_eq!(t.next_fire_us(k), Some(T0 + 8 * S));
    }

    #[test]
    fn missed_count_is_capped() {
        let mut t = JobTable::new(T0);
        let k = t.add(every(1, T0), T0 - 1).unwrap();
        let c = t
            .add(
                Trigger::cron(CronExpr::new("* * * * * *", "UTC").unwrap()),
                T0 - 1,
            )
            .unwrap();
        let start = std::time::Instant::now();
        // A day's suspend: 8.64e10 fires of the 1 µs interval, 86,400 of the cron.
        let got = pop(&mut t, T0 + 86_400 * S);
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(got, vec![due(k, T0, MISSED_CAP), due(c, T0, 86_400)]);
        assert_eq!(t.next_fire_us(k), Some(T0 + 86_400 * S + 1));
        assert_eq!(t.next_fire_us(c), Some(T0 + 86_401 * S));
    }

    #[test]
    fn pause_and_resume_stay_on_the_grid() {
        let mut t = JobTable::new(T0);
        let k = t.add(every(10 * S, T0 + 3 * S), T0).unwrap();
        assert!(t.pause(k));
        assert!(t.pause(k));
        assert_eq!(t.is_paused(k), Some(true));
        // Paused: keeps its next fire for display, never due.
        assert_eq!(t.next_fire_us(k), Some(T0 + 3 * S));
        assert_eq!(t.next_deadline_us(), None);
        assert_eq!(pop(&mut t, T0 + 100 * S), vec![]);
        // Resumed at 100 s: the next grid point after it, not at once, not shifted.
        assert!(t.resume(k, T0 + 100 * S));
        assert_eq!(t.is_paused(k), Some(false));
        assert_eq!(t.next_fire_us(k), Some(T0 + 103 * S));
        assert_eq!(t.next_deadline_us(), Some(T0 + 103 * S));
        // Resuming on a grid point: strictly after it.
        assert!(t.pause(k));
        assert!(t.resume(k, T0 + 113 * S));
        assert_eq!(t.next_fire_us(k), Some(T0 + 123 * S));
        // Resuming an unpaused job changes nothing.
        assert!(t.resume(k, T0 + 200 * S));
        assert_eq!(t.next_fire_us(k), Some(T0 + 123 * S));
        assert_eq!(pop(&mut t, T0 + 123 * S), vec![due(k, T0 + 123 * S, 0)]);
        // A paused one-shot whose time passed has no fire left when resumed.
        let d = t.add(Trigger::Date { at_us: T0 + S }, T0).unwrap();
        assert!(t.pause(d));
        assert!(t.resume(d, T0 + 2 * S));
        assert_eq!(t.next_fire_us(d), None);
    }

    #[test]
    fn counters_and_one_shots() {
        let mut t = JobTable::new(T0);
        let k = t.add(Trigger::Date { at_us: T0 + S }, T0).unwrap();
        let past = t.add(Trigger::Date { at_us: T0 }, T0).unwrap();
        assert_eq!(t.next_fire_us(past), None);
        assert_eq!(t.counters(k), Some((0, 0, 0)));
        assert_eq!(pop(&mut t, T0 + 10 * S), vec![due(k, T0 + S, 0)]);
        assert_eq!(pop(&mut t, T0 + 20 * S), vec![]);
        assert!(t.record_run(k, false));
        assert!(t.record_retry(k));
        assert!(t.record_run(k, true));
        assert_eq!(t.counters(k), Some((2, 1, 1)));
        assert_eq!(t.len(), 2);
        assert!(t.remove(k));
        assert_eq!(t.counters(k), None);
    }

    #[test]
    fn manual_clock_in_the_past_and_extremes() {
        // The table starts "now" but is driven by a clock near the epoch, before it, and at the
        // ends of the range: nothing panics and the order is kept.
        let mut t = JobTable::new(T0);
        let a = t.add(every(S, 1000 * S), 0).unwrap();
        let b = t.add(every(S, -5 * S), -10 * S).unwrap();
        let c = t.add(Trigger::Date { at_us: i64::MAX }, 0).unwrap();
        let d = t.add(every(i64::MAX, i64::MIN + 1), i64::MIN).unwrap();
        assert_eq!(t.next_deadline_us(), Some(i64::MIN + 1));
        assert_eq!(
            pop(&mut t, -5 * S),
            vec![due(d, i64::MIN + 1, 0), due(b, -5 * S, 0)]
        );
        assert_eq!(t.next_fire_us(d), Some(i64::MIN + 1 + i64::MAX));
        assert_eq!(pop(&mut t, 1000 * S).len(), 3);
        assert_eq!(t.next_fire_us(a), Some(1001 * S));
        let got = pop(&mut t, i64::MAX);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], due(a, 1001 * S, MISSED_CAP));
        assert_eq!(got[1], due(b, 1001 * S, MISSED_CAP));
        assert_eq!(&got[2..], &[due(c, i64::MAX, 0), due(d, i64::MAX, 0)]);
        assert_eq!(t.next_deadline_us(), None);
        assert_eq!(t.next_fire_us(a), None);
    }

    #[test]
    fn million_interval_jobs() {
        const N: usize = 1_000_000;
        let start = std::time::Instant::now();
        let mut t = JobTable::new(T0);
        let mut x = 7u64;
        for i in 0..N as i64 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let period = (1 + (x >> 33) % 3600) as i64 * S;
            t.add(every(period, T0 + i % 1000), T0).unwrap();
        }
        let added = start.elapsed();
        assert_eq!(t.len(), N);
        let bytes = t.heap_bytes();
        eprintln!(
            "1M interval jobs: added in {added:?} ({:.0} ns/job); {bytes} heap bytes = {:.1} bytes/job",
            added.as_nanos() as f64 / N as f64,
            bytes as f64 / N as f64
        );
        assert!(bytes < 160 * N);
        // The first second: every job with period 1 s (and the others whose first fire is in it).
        let p = std::time::Instant::now();
        let mut out = Vec::new();
        t.pop_due(T0 + S, &mut out);
        let popped = p.elapsed();
        eprintln!("1M interval jobs: popped {} due in {popped:?}", out.len());
        assert!(!out.is_empty());
        assert!(out
            .windows(2)
            .all(|w| (w[0].scheduled_us, w[0].key) < (w[1].scheduled_us, w[1].key)));
        assert!(t.next_deadline_us().unwrap() > T0 + S);
    }

    /// An oracle job: key, trigger, next fire, paused, (runs, failures, retries).
    type Job = (u64, Trigger, Option<i64>, bool, (u64, u64, u64));

    /// The oracle: a vector scanned for everything.
    #[derive(Default)]
    struct Naive {
        jobs: Vec<Job>,
    }

    impl Naive {
        fn get(&mut self, key: u64) -> Option<&mut Job> {
            self.jobs.iter_mut().find(|j| j.0 == key)
        }

        fn next_deadline(&self) -> Option<i64> {
            self.jobs.iter().filter(|j| !j.3).filter_map(|j| j.2).min()
        }

        fn pop(&mut self, now: i64) -> Vec<Due> {
            let mut out: Vec<Due> = Vec::new();
            for j in self.jobs.iter_mut().filter(|j| !j.3) {
                let Some(s) = j.2.filter(|&s| s <= now) else {
                    continue;
                };
                // Written out here rather than calling `Trigger::advance` (the rule under test).
                let mut missed = 0;
                let mut next = j.1.next_after(s);
                if next.is_some_and(|n| n <= now) {
                    missed = j.1.count_between(s, now, MISSED_CAP);
                    next = j.1.next_after(now);
                }
                j.2 = next;
                out.push(due(j.0, s, missed));
            }
            out.sort_by_key(|d| (d.scheduled_us, d.key));
            out
        }
    }

    #[derive(Debug, Clone)]
    enum Trig0 {
        Every(i64, i64),
        Date(i64),
        Cron(&'static str),
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(Trig0, i64),
        Remove(usize),
        Pause(usize),
        Resume(usize),
        Pop(i64),
        PopToNext(i64),
        Record(usize, u8),
        Deadline,
    }

    fn op() -> impl Strategy<Value = Op> {
        let offset = prop_oneof![
            4 => -3000i64..3000,
            4 => -5 * S..5 * S,
            1 => Just(0i64),
        ];
        let trig = prop_oneof![
            6 => (prop_oneof![1i64..4000, 1i64..3 * S, Just(MS), Just(S)], offset.clone())
                .prop_map(|(p, a)| Trig0::Every(p.max(500), a)),
            2 => offset.clone().prop_map(Trig0::Date),
            1 => prop_oneof![Just("* * * * * *"), Just("* * * * * */3"), Just("0 0 1 1 *")]
                .prop_map(Trig0::Cron),
        ];
        let step = prop_oneof![
            4 => 0i64..2000,
            3 => 0i64..3 * S,
            1 => -2000i64..0,
        ];
        let idx = 0usize..64;
        prop_oneof![
            5 => (trig, offset.clone()).prop_map(|(t, a)| Op::Add(t, a)),
            2 => idx.clone().prop_map(Op::Remove),
            2 => idx.clone().prop_map(Op::Pause),
            2 => idx.clone().prop_map(Op::Resume),
            5 => step.clone().prop_map(Op::Pop),
            2 => (0i64..1500).prop_map(Op::PopToNext),
            1 => (idx, 0u8..3).prop_map(|(i, r)| Op::Record(i, r)),
            2 => Just(Op::Deadline),
        ]
    }

    fn run(base: i64, ops: Vec<Op>) {
        let mut t = JobTable::new(base);
        let mut m = Naive::default();
        let mut keys: Vec<u64> = Vec::new();
        let mut now = base;
        let pick = |keys: &Vec<u64>, i: usize| {
            keys.get(i % keys.len().max(1)).copied().unwrap_or(i as u64)
        };
        for op in ops {
            match op {
                Op::Add(tr, off) => {
                    let trigger = match tr {
                        Trig0::Every(p, a) => every(p, now + a),
                        Trig0::Date(a) => Trigger::Date { at_us: now + a },
                        Trig0::Cron(e) => Trigger::cron(CronExpr::new(e, "UTC").unwrap()),
                    };
                    let after = now + off;
                    let next = trigger.next_after(after);
                    let key = t.add(trigger.clone(), after).unwrap();
                    assert!(m.get(key).is_none(), "key {key} reused while live");
                    m.jobs.push((key, trigger, next, false, (0, 0, 0)));
                    keys.push(key);
                }
                Op::Remove(i) => {
                    let k = pick(&keys, i);
                    let had = m.jobs.iter().position(|j| j.0 == k);
                    if let Some(p) = had {
                        m.jobs.remove(p);
                    }
                    assert_eq!(t.remove(k), had.is_some());
                }
                Op::Pause(i) => {
                    let k = pick(&keys, i);
                    let had = m.get(k).map(|j| j.3 = true).is_some();
                    assert_eq!(t.pause(k), had);
                }
                Op::Resume(i) => {
                    let k = pick(&keys, i);
                    let had = m
                        .get(k)
                        .map(|j| {
                            if j.3 {
                                j.3 = false;
                                j.2 = j.1.next_after(now);
                            }
                        })
                        .is_some();
                    assert_eq!(t.resume(k, now), had);
                }
                Op::Pop(step) => {
                    now += step;
                    assert_eq!(pop(&mut t, now), m.pop(now));
                }
                Op::PopToNext(extra) => {
                    if let Some(d) = m.next_deadline() {
                        now = now.max(d) + extra;
                    }
                    assert_eq!(pop(&mut t, now), m.pop(now));
                }
                Op::Record(i, r) => {
                    let k = pick(&keys, i);
                    let j = m.get(k).map(|j| match r {
                        0 => j.4 .0 += 1,
                        1 => {
                            j.4 .0 += 1;
                            j.4 .1 += 1;
                        }
                        _ => j.4 .2 += 1,
                    });
                    let got = match r {
                        0 => t.record_run(k, true),
                        1 => t.record_run(k, false),
                        _ => t.record_retry(k),
                    };
                    assert_eq!(got, j.is_some());
                }
                Op::Deadline => {}
            }
            assert_eq!(t.len(), m.jobs.len());
            assert_eq!(t.next_deadline_us(), m.next_deadline());
            for &k in &keys {
                let j = m.jobs.iter().find(|j| j.0 == k);
                assert_eq!(t.next_fire_us(k), j.and_then(|j| j.2));
                assert_eq!(t.is_paused(k), j.map(|j| j.3));
                assert_eq!(t.counters(k), j.map(|j| j.4));
            }
        }
        let end = m.next_deadline().map_or(now, |d| d.max(now)) + 10 * S;
        assert_eq!(pop(&mut t, end), m.pop(end));
    }

    proptest! {
        #[test]
        fn interval_grid_without_overflow(
            period in prop_oneof![1i64..10_000, 1i64..i64::MAX],
            anchor in any::<i64>(),
            after in any::<i64>(),
        ) {
            // Exact arithmetic: the first grid point > after, if it fits in an i64.
            let (p, a, t) = (i128::from(period), i128::from(anchor), i128::from(after));
            let want = if t < a { a } else { ((t - a) / p + 1) * p + a };
            let want = i64::try_from(want).ok();
            let got = crate::trigger::interval_next_after(period, anchor, after);
            prop_assert_eq!(got, want);
            if let Some(g) = got {
                prop_assert!(g > after);
            }
            // `Trigger::next_after` agrees where its 64-bit intermediates cannot overflow (with a
            // negative anchor they can while the result fits: it then says None).
            if anchor >= 0 {
                prop_assert_eq!(Trigger::Interval { period_us: period, anchor_us: anchor }.next_after(after), want);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn matches_naive_oracle(
            base in prop_oneof![Just(T0), Just(0i64), -S..S, T0..T0 + 1000 * S],
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            run(base, ops);
        }
    }
}
