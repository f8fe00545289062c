//! A hierarchical timer wheel, modelled on tokio's `runtime/time/wheel`.
//!
//! Times are `u64` ticks (the engine uses milliseconds). Each level has 64 slots; a slot of level
//! `L` covers `64^L` ticks, so level 0 slots hold timers of one exact deadline. A timer goes to the
//! level of the highest bit in which its deadline differs from the wheel's current time
//! ([`level_for`]) and to the slot given by the deadline's 6 bits of that level. Each level keeps
//! an `occupied` bitfield, and the next slot to expire is found with `rotate_right` +
//! `trailing_zeros`, never by scanning slots. When time reaches a slot of a higher level, its
//! timers are cascaded into lower levels.
//!
//! Unlike tokio (6 levels, deadlines clamped to about two years ahead), the wheel has 11 levels:
//! 11 x 6 bits cover all 64 bits of a deadline, so every deadline up to `u64::MAX` has its exact
//! place and nothing needs an overflow list or re-insertion. The upper levels stay empty and cost
//! nothing (an empty level is one zero word) unless deadlines are more than `64^6` ticks ahead.
//!
//! Storage: timers live in a slab (`Vec`) and form intrusive doubly-linked lists per slot through
//! `u32` slab indices; an open-addressing table of slab indices maps ids to timers. `insert`,
//! `cancel`, `contains` and `deadline_of` are O(1). A timer takes 24 bytes in the slab plus
//! 10.7 to 21.3 bytes of table (8-byte buckets, between 3/8 and 3/4 full).
//!
//! A timer whose deadline is not after the current time sits in a "pending" list and is returned
//! by the next [`TimerWheel::poll`].
//!
//! [`TimerWheel::next_deadline`] is exact: the earliest deadline is in the pending list if that is
//! not empty, else in the first occupied slot of the lowest occupied level (every timer of a lower
//! level is due before any timer of a higher level). Every slot caches the minimum deadline of its
//! list; the cache is updated on insert and only invalidated when its minimum timer is cancelled
//! or moved. The next query then recomputes it: by a walk of the list when the list is small, else
//! from a heap of the list's deadlines built once, so that cancelling the earliest timers of a big
//! slot one after another costs O(log n) each, not a walk each.
use crate::error::{CoreError, Result};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Bits of deadline per level.
const LEVEL_BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << LEVEL_BITS;
const SLOT_MASK: u64 = (SLOTS as u64) - 1;
/// Levels: enough 6-bit digits for a whole `u64`.
pub const NUM_LEVELS: usize = 64_usize.div_ceil(LEVEL_BITS as usize);
/// The list holding timers that are already due.
const PENDING: usize = NUM_LEVELS * SLOTS;
/// "No entry" in links and table buckets.
const NIL: u32 = u32::MAX;
/// The `prev` link of a free slab entry.
const FREED: u32 = NIL - 1;
/// A slot whose cached minimum must be recomputed gets a heap of its deadlines ([`Refined`]) when
/// it holds at least this many timers; smaller ones are just walked.
const REFINE_MIN: usize = if cfg!(test) { 4 } else { 64 };
/// The most timers a wheel holds: 3/4 of the id table's 2^32 buckets (which also keeps slab
/// indices below `NIL`).
pub const MAX_TIMERS: usize = 3 << 30;

/// The level at which a timer due at `when` is stored when the wheel's time is `elapsed`: the
/// 6-bit digit holding the highest bit in which they differ (0 when they are equal).
pub fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = (elapsed ^ when) | SLOT_MASK;
    let significant = 63 - masked.leading_zeros();
    (significant / LEVEL_BITS) as usize
}

/// The slot of `when` at `level`.
fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (LEVEL_BITS * level as u32)) & SLOT_MASK) as usize
}

/// One timer in the slab. Free entries are chained through `next`.
#[derive(Clone, Copy)]
struct Entry {
    id: u64,
    deadline: u64,
    prev: u32,
    next: u32,
}

/// The head of one slot's list, with a cache of the list's earliest deadline.
///
/// The cache is atomic only so that [`TimerWheel::next_deadline`] can refresh it through `&self`
/// while the wheel stays `Sync`; every update made through `&mut self` uses plain `get_mut`.
struct List {
    head: u32,
    /// The number of entries.
    len: u32,
    /// The minimum deadline of the list, meaningful when `min_ok` is set.
    min: AtomicU64,
    min_ok: AtomicBool,
}

impl List {
    fn empty() -> List {
        List {
            head: NIL,
            len: 0,
            min: AtomicU64::new(u64::MAX),
            min_ok: AtomicBool::new(true),
        }
    }
}

/// A min-heap of `(deadline, slab index)` of one list, built when the list's cached minimum was
/// invalidated and the list is large, so that removing its earliest timers one after another
/// costs O(log n) each rather than a walk of the list each. Records go stale lazily: one is valid
/// while its slab entry is live with that deadline (which puts it in this list). Every entry
/// linked into the list after the build is pushed; the heap is dropped when the list is emptied.
struct Refined {
    list: usize,
    heap: BinaryHeap<Reverse<(u64, u32)>>,
}

/// Open-addressing table (linear probing, backward-shift deletion) from ids to slab indices.
///
/// A bucket packs the upper 32 bits of the id's hash (the tag) with the slab index, so probing,
/// deletion and growth never read the slab except to confirm a tag match. The home bucket is
/// given by the top bits of the hash, hence by the tag alone.
struct IdIndex {
    buckets: Vec<u64>,
    /// log2 of `buckets.len()` (0 while there are no buckets).
    bits: u32,
    len: usize,
}

/// An empty bucket (its index part is `NIL`, which no entry has).
const EMPTY: u64 = u64::MAX;
/// At most 2^32 buckets, so that the 32-bit tag determines the home bucket.
const MAX_BUCKET_BITS: u32 = 32;

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn tag_of(id: u64) -> u64 {
    mix64(id) >> 32
}

impl IdIndex {
    const MIN_BITS: u32 = 4;

    fn new() -> IdIndex {
        IdIndex {
            buckets: Vec::new(),
            bits: 0,
            len: 0,
        }
    }

    /// log2 of the buckets needed to hold `n` ids at most 3/4 full.
    fn bits_for(n: usize) -> u32 {
        let want = n.saturating_add(n / 3).saturating_add(1);
        let bits = usize::BITS - (want - 1).leading_zeros();
        bits.clamp(Self::MIN_BITS, MAX_BUCKET_BITS)
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    fn home(&self, tag: u64) -> usize {
        (tag >> (32 - self.bits)) as usize
    }

    /// The bucket position holding `id`, if present.
    fn position(&self, id: u64, slab: &[Entry]) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let tag = tag_of(id);
        let mask = self.mask();
        let mut i = self.home(tag);
        loop {
            let b = self.buckets[i];
            if b == EMPTY {
                return None;
            }
            if b >> 32 == tag && slab[b as u32 as usize].id == id {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    fn find(&self, id: u64, slab: &[Entry]) -> Option<u32> {
        self.position(id, slab).map(|i| self.buckets[i] as u32)
    }

    /// Size the table for `n` ids, if the memory can be had (it is only a hint).
    fn reserve(&mut self, n: usize) {
        let bits = Self::bits_for(n);
        if bits > self.bits {
            let mut probe: Vec<u64> = Vec::new();
            if probe.try_reserve_exact(1 << bits).is_ok() {
                drop(probe);
                self.rebuild(bits);
            }
        }
    }

    fn rebuild(&mut self, bits: u32) {
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; 1 << bits]);
        self.bits = bits;
        let mask = self.mask();
        for b in old.into_iter().filter(|&b| b != EMPTY) {
            let mut i = self.home(b >> 32);
            while self.buckets[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.buckets[i] = b;
        }
    }

    /// Add `id` at slab entry `idx`; the id must not be in the table yet.
    fn insert_new(&mut self, id: u64, idx: u32) {
        let bits = Self::bits_for(self.len + 1);
        if bits > self.bits {
            self.rebuild(bits.max(self.bits + 1));
        }
        let tag = tag_of(id);
        let mask = self.mask();
        let mut i = self.home(tag);
        while self.buckets[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.buckets[i] = tag << 32 | u64::from(idx);
        self.len += 1;
    }

    /// Remove the bucket at position `hole`, shifting later buckets of the run back.
    fn remove_at(&mut self, mut hole: usize) {
        let mask = self.mask();
        let mut j = (hole + 1) & mask;
        loop {
            let b = self.buckets[j];
            if b == EMPTY {
                break;
            }
            // `b` may move back into the hole when the hole lies between its home and `j`.
            let home = self.home(b >> 32);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.buckets[hole] = b;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.buckets[hole] = EMPTY;
        self.len -= 1;
    }

    /// Remove `id`, returning its slab index.
    fn remove(&mut self, id: u64, slab: &[Entry]) -> Option<u32> {
        let i = self.position(id, slab)?;
        let idx = self.buckets[i] as u32;
        self.remove_at(i);
        Some(idx)
    }

    /// Remove `id`, known to be at slab entry `idx` (no slab access).
    fn remove_known(&mut self, id: u64, idx: u32) {
        let tag = tag_of(id);
        let want = tag << 32 | u64::from(idx);
        let mask = self.mask();
        let mut i = self.home(tag);
        while self.buckets[i] != want {
            debug_assert!(self.buckets[i] != EMPTY, "id {id} not in the index");
            i = (i + 1) & mask;
        }
        self.remove_at(i);
    }

    fn clear(&mut self) {
        self.buckets.fill(EMPTY);
        self.len = 0;
    }
}

/// A hierarchical timer wheel of `u64` ids and `u64` deadlines (see the module documentation).
pub struct TimerWheel {
    /// The wheel's current time: every timer in a slot is due strictly after it.
    elapsed: u64,
    slab: Vec<Entry>,
    /// Head of the free-entry chain in `slab`.
    free: u32,
    index: IdIndex,
    /// Per level, bit `s` is set when slot `s` is not empty.
    occupied: [u64; NUM_LEVELS],
    /// `NUM_LEVELS * SLOTS` slot lists, then the pending list.
    lists: Box<[List]>,
    /// At most one refined list (behind a lock only because `next_deadline` takes `&self`).
    refined: Mutex<Option<Refined>>,
}

impl fmt::Debug for TimerWheel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerWheel")
            .field("now", &self.elapsed)
            .field("len", &self.len())
            .field("next_deadline", &self.next_deadline())
            .finish()
    }
}

impl TimerWheel {
    /// An empty wheel whose current time is `now`.
    pub fn new(now: u64) -> TimerWheel {
        TimerWheel {
            elapsed: now,
            slab: Vec::new(),
            free: NIL,
            index: IdIndex::new(),
            occupied: [0; NUM_LEVELS],
            lists: (0..=PENDING).map(|_| List::empty()).collect(),
            refined: Mutex::new(None),
        }
    }

    /// An empty wheel with room for `capacity` timers (capped at [`MAX_TIMERS`]).
    pub fn with_capacity(now: u64, capacity: usize) -> TimerWheel {
        let capacity = capacity.min(MAX_TIMERS);
        let mut w = TimerWheel::new(now);
        // A hint: when the memory is not there, the wheel grows on demand instead.
        let _ = w.slab.try_reserve_exact(capacity);
        w.index.reserve(capacity);
        w
    }

    /// The number of timers.
    pub fn len(&self) -> usize {
        self.index.len
    }

    /// Whether there is no timer.
    pub fn is_empty(&self) -> bool {
        self.index.len == 0
    }

    /// The wheel's current time: the `now` of creation or of the latest [`TimerWheel::poll`].
    pub fn now(&self) -> u64 {
        self.elapsed
    }

    /// Whether a timer `id` is scheduled.
    pub fn contains(&self, id: u64) -> bool {
        self.index.find(id, &self.slab).is_some()
    }

    /// The deadline of timer `id`.
    pub fn deadline_of(&self, id: u64) -> Option<u64> {
        self.index
            .find(id, &self.slab)
            .map(|i| self.slab[i as usize].deadline)
    }

    /// Bytes of heap held by the wheel (slab, id table, slot heads and any refined heap).
    pub fn heap_bytes(&self) -> usize {
        let refined = lock(&self.refined).as_ref().map_or(0, |r| {
            r.heap.capacity() * std::mem::size_of::<Reverse<(u64, u32)>>()
        });
        self.slab.capacity() * std::mem::size_of::<Entry>()
            + self.index.buckets.capacity() * std::mem::size_of::<u64>()
            + self.lists.len() * std::mem::size_of::<List>()
            + refined
    }

    /// Schedule timer `id` at `deadline`, replacing its deadline if it is already scheduled
    /// (the previous deadline is returned). A deadline not after [`TimerWheel::now`] is due at the
    /// next poll. Fails only when the wheel already holds [`MAX_TIMERS`] timers.
    pub fn insert(&mut self, id: u64, deadline: u64) -> Result<Option<u64>> {
        if let Some(idx) = self.index.find(id, &self.slab) {
            let old = self.slab[idx as usize].deadline;
            if old != deadline {
                self.unlink(idx, self.list_for(old));
                self.slab[idx as usize].deadline = deadline;
                self.link(idx, self.list_for(deadline));
            }
            return Ok(Some(old));
        }
        let entry = Entry {
            id,
            deadline,
            prev: NIL,
            next: NIL,
        };
        let idx = if self.free != NIL {
            let idx = self.free;
            self.free = self.slab[idx as usize].next;
            self.slab[idx as usize] = entry;
            idx
        } else {
            if self.slab.len() >= MAX_TIMERS {
                return Err(CoreError::OutOfRange(format!(
                    "the timer wheel is full: it holds at most {MAX_TIMERS} timers"
                )));
            }
            self.slab.push(entry);
            (self.slab.len() - 1) as u32
        };
        self.index.insert_new(id, idx);
        self.link(idx, self.list_for(deadline));
        Ok(None)
    }

    /// Unschedule timer `id`; false if there is no such timer.
    pub fn cancel(&mut self, id: u64) -> bool {
        let Some(idx) = self.index.remove(id, &self.slab) else {
            return false;
        };
        self.unlink(idx, self.list_for(self.slab[idx as usize].deadline));
        self.release(idx);
        true
    }

    /// Remove every timer.
    pub fn clear(&mut self) {
        self.slab.clear();
        self.free = NIL;
        self.index.clear();
        self.occupied = [0; NUM_LEVELS];
        for l in self.lists.iter_mut() {
            *l = List::empty();
        }
        *refined_mut(&mut self.refined) = None;
    }

    /// The earliest deadline of all timers (exact, not a slot boundary), or `None` when empty.
    /// It is before [`TimerWheel::now`] only for timers inserted already due.
    ///
    /// O(levels) while the cached minimum of the first slot is valid. After that slot's earliest
    /// timer was cancelled or rescheduled, the next call walks the slot's list once if it is
    /// small, else builds a heap of its deadlines once, so that each later change of its minimum
    /// costs O(log n).
    pub fn next_deadline(&self) -> Option<u64> {
        let list = if self.lists[PENDING].head != NIL {
            PENDING
        } else {
            let (level, slot, _) = self.next_expiration()?;
            level * SLOTS + slot
        };
        Some(self.list_min(list))
    }

    /// Remove and return, in (deadline, id) order, every timer due at `now`: deadline
    /// `<= max(now, self.now())`. Time then advances to `now`; it never goes backwards, so a `now`
    /// before [`TimerWheel::now`] only returns timers inserted already due.
    pub fn poll(&mut self, now: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        self.poll_into(now, &mut out);
        out
    }

    /// [`TimerWheel::poll`], appending `(id, deadline)` pairs to `out`.
    pub fn poll_into(&mut self, now: u64, out: &mut Vec<(u64, u64)>) {
        let now = now.max(self.elapsed);
        if self.lists[PENDING].head != NIL {
            let first = out.len();
            let head = self.take(PENDING);
            self.drain_into(head, out);
            out[first..].sort_unstable_by_key(|&(id, deadline)| (deadline, id));
        }
        while let Some((level, slot, start)) = self.next_expiration() {
            if start > now {
                break;
            }
            // Entries at lower levels and earlier slots are all gone: time can move to the
            // start of this slot, and its timers all fall into lower levels (or are due).
            self.elapsed = start;
            let head = self.take(level * SLOTS + slot);
            if level == 0 {
                // A level-0 slot spans one tick: all its timers are due at `start`.
                let first = out.len();
                self.drain_into(head, out);
                out[first..].sort_unstable_by_key(|&(id, _)| id);
            } else {
                let mut i = head;
                while i != NIL {
                    let e = self.slab[i as usize];
                    let to = level_for(start, e.deadline);
                    debug_assert!(to < level && e.deadline >= start);
                    self.link(i, to * SLOTS + slot_for(e.deadline, to));
                    i = e.next;
                }
            }
        }
        self.elapsed = now;
        if self.is_empty() {
            // Start the slab afresh: no free chain to follow, entries packed again.
            self.slab.clear();
            self.free = NIL;
        }
    }

    /// The list of a timer due at `when`, given the invariants outside `poll`: already due
    /// timers are pending, the others in the slot given by [`level_for`].
    fn list_for(&self, when: u64) -> usize {
        if when <= self.elapsed {
            PENDING
        } else {
            let level = level_for(self.elapsed, when);
            level * SLOTS + slot_for(when, level)
        }
    }

    /// The first non-empty slot at or after the current time, at the lowest non-empty level:
    /// `(level, slot, start tick of the slot)`.
    fn next_expiration(&self) -> Option<(usize, usize, u64)> {
        let level = self.occupied.iter().position(|&o| o != 0)?;
        let shift = LEVEL_BITS * level as u32;
        let pos = ((self.elapsed >> shift) & SLOT_MASK) as u32;
        let zeros = self.occupied[level].rotate_right(pos).trailing_zeros();
        let slot = (pos + zeros) % SLOTS as u32;
        // Every timer is due after `elapsed` and within the current block of its level, so the
        // slot never lies behind the current position.
        debug_assert!(slot >= pos);
        let level_start = match 1u64.checked_shl(shift + LEVEL_BITS) {
            Some(range) => self.elapsed & !(range - 1),
            None => 0,
        };
        Some((
            level,
            slot as usize,
            level_start + (u64::from(slot) << shift),
        ))
    }

    /// The minimum deadline of a non-empty list, recomputed if its cache was invalidated.
    fn list_min(&self, list: usize) -> u64 {
        let l = &self.lists[list];
        if l.min_ok.load(Ordering::Acquire) {
            return l.min.load(Ordering::Relaxed);
        }
        let mut refined = lock(&self.refined);
        let min = match refined.as_mut().filter(|r| r.list == list) {
            Some(r) => self.heap_min(&mut r.heap),
            None => None,
        };
        let min = min.unwrap_or_else(|| {
            let min = self.walk(list).map(|(d, _)| d).min().unwrap_or(u64::MAX);
            if l.len as usize >= REFINE_MIN {
                let heap = self.walk(list).map(Reverse).collect();
                *refined = Some(Refined { list, heap });
            }
            min
        });
        l.min.store(min, Ordering::Relaxed);
        l.min_ok.store(true, Ordering::Release);
        min
    }

    /// The smallest valid deadline of a refined heap, dropping stale records on the way.
    fn heap_min(&self, heap: &mut BinaryHeap<Reverse<(u64, u32)>>) -> Option<u64> {
        while let Some(&Reverse((deadline, idx))) = heap.peek() {
            match self.slab.get(idx as usize) {
                Some(e) if e.prev != FREED && e.deadline == deadline => return Some(deadline),
                _ => {
                    heap.pop();
                }
            }
        }
        None
    }

    /// `(deadline, slab index)` of every entry of `list`.
    fn walk(&self, list: usize) -> impl Iterator<Item = (u64, u32)> + '_ {
        let mut i = self.lists[list].head;
        std::iter::from_fn(move || {
            let e = self.slab.get(i as usize)?;
            let item = (e.deadline, i);
            i = e.next;
            Some(item)
        })
    }

    /// Forget the refined heap if it belongs to `list`.
    fn drop_refined(&mut self, list: usize) {
        let refined = refined_mut(&mut self.refined);
        if refined.as_ref().is_some_and(|r| r.list == list) {
            *refined = None;
        }
    }

    fn set_occupied(&mut self, list: usize, on: bool) {
        if list < PENDING {
            let bit = 1u64 << (list % SLOTS);
            if on {
                self.occupied[list / SLOTS] |= bit;
            } else {
                self.occupied[list / SLOTS] &= !bit;
            }
        }
    }

    /// Push entry `idx` at the front of `list`.
    fn link(&mut self, idx: u32, list: usize) {
        let head = self.lists[list].head;
        let deadline = {
            let e = &mut self.slab[idx as usize];
            e.prev = NIL;
            e.next = head;
            e.deadline
        };
        let l = &mut self.lists[list];
        l.head = idx;
        l.len += 1;
        let len = l.len as usize;
        let refined = refined_mut(&mut self.refined);
        if let Some(r) = refined.as_mut().filter(|r| r.list == list) {
            if r.heap.len() > 2 * len + REFINE_MIN {
                // Mostly stale records (churn without minimum queries): rebuild when needed.
                *refined = None;
            } else {
                r.heap.push(Reverse((deadline, idx)));
            }
        }
        let l = &mut self.lists[list];
        if head == NIL {
            *l.min.get_mut() = deadline;
            *l.min_ok.get_mut() = true;
            self.set_occupied(list, true);
        } else {
            self.slab[head as usize].prev = idx;
            let min = l.min.get_mut();
            *min = (*min).min(deadline);
        }
    }

    /// Take entry `idx` out of `list`.
    fn unlink(&mut self, idx: u32, list: usize) {
        let Entry {
            deadline,
            prev,
            next,
            ..
        } = self.slab[idx as usize];
        if prev == NIL {
            self.lists[list].head = next;
        } else {
            self.slab[prev as usize].next = next;
        }
        if next != NIL {
            self.slab[next as usize].prev = prev;
        }
        let l = &mut self.lists[list];
        l.len -= 1;
        if l.head == NIL {
            *l.min.get_mut() = u64::MAX;
            *l.min_ok.get_mut() = true;
            self.set_occupied(list, false);
            self.drop_refined(list);
        } else if deadline == *l.min.get_mut() {
            *l.min_ok.get_mut() = false;
        }
    }

    /// Empty `list`, returning its former head.
    fn take(&mut self, list: usize) -> u32 {
        let l = &mut self.lists[list];
        let head = std::mem::replace(&mut l.head, NIL);
        l.len = 0;
        *l.min.get_mut() = u64::MAX;
        *l.min_ok.get_mut() = true;
        self.set_occupied(list, false);
        self.drop_refined(list);
        head
    }

    /// Remove the timers of a detached list from the wheel, appending them to `out`.
    fn drain_into(&mut self, head: u32, out: &mut Vec<(u64, u64)>) {
        let mut i = head;
        while i != NIL {
            let e = self.slab[i as usize];
            out.push((e.id, e.deadline));
            self.index.remove_known(e.id, i);
            self.release(i);
            i = e.next;
        }
    }

    /// Return slab entry `idx` (already out of its list and of the index) to the free chain.
    fn release(&mut self, idx: u32) {
        let e = &mut self.slab[idx as usize];
        e.prev = FREED;
        e.next = self.free;
        self.free = idx;
    }
}

/// The refined heap through `&self`. A panic elsewhere while it was held leaves nothing
/// inconsistent (records are validated on use), so a poisoned lock is simply taken over.
fn lock(m: &Mutex<Option<Refined>>) -> MutexGuard<'_, Option<Refined>> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The refined heap through `&mut self`, without locking.
fn refined_mut(m: &mut Mutex<Option<Refined>>) -> &mut Option<Refined> {
    m.get_mut().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// The reference: highest differing bit by a plain loop.
    fn naive_level(elapsed: u64, when: u64) -> usize {
        let x = elapsed ^ when;
        let mut high = 0;
        for b in 0..64 {
            if x >> b & 1 == 1 {
                high = b;
            }
        }
        high / 6
    }

    #[test]
    fn level_for_matches_highest_differing_bit() {
        assert_eq!(NUM_LEVELS, 11);
        // Every pair in a small square.
        for e in 0..1024u64 {
            for w in e..e + 4200 {
                assert_eq!(level_for(e, w), naive_level(e, w), "{e} {w}");
            }
        }
        // Every single and double bit difference, from many bases.
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..200 {
            x = mix64(x);
            for b in 0..64 {
                let w = x ^ (1 << b);
                assert_eq!(level_for(x, w), b / 6);
                assert_eq!(level_for(w, x), b / 6);
                for c in 0..b {
                    let w2 = w ^ (1 << c);
                    assert_eq!(level_for(x, w2), b / 6);
                }
            }
            assert_eq!(level_for(x, x), 0);
        }
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(63, 64), 1);
        assert_eq!(level_for(0, (1 << 36) - 1), 5);
        assert_eq!(level_for(0, 1 << 36), 6);
        assert_eq!(level_for(0, u64::MAX), 10);
        assert_eq!(level_for(u64::MAX - 1, u64::MAX), 0);
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<TimerWheel>();
    }

    #[test]
    fn basic_operations() {
        let mut w = TimerWheel::new(100);
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
        assert_eq!(w.insert(1, 150).unwrap(), None);
        assert_eq!(w.insert(2, 120).unwrap(), None);
        assert_eq!(w.insert(3, 5000).unwrap(), None);
        assert_eq!(w.insert(4, 120).unwrap(), None);
        assert_eq!(w.len(), 4);
        assert_eq!(w.next_deadline(), Some(120));
        assert!(w.contains(3) && !w.contains(5));
        assert_eq!(w.deadline_of(3), Some(5000));
        assert_eq!(w.deadline_of(5), None);
        assert_eq!(w.poll(119), vec![]);
        assert_eq!(w.now(), 119);
        assert_eq!(w.poll(120), vec![(2, 120), (4, 120)]);
        // Replace: earlier and later.
        assert_eq!(w.insert(3, 130).unwrap(), Some(5000));
        assert_eq!(w.next_deadline(), Some(130));
        assert_eq!(w.insert(1, 10_000).unwrap(), Some(150));
        assert!(w.cancel(3));
        assert!(!w.cancel(3));
        assert_eq!(w.next_deadline(), Some(10_000));
        assert_eq!(w.poll(9_999), vec![]);
        assert_eq!(w.poll(u64::MAX), vec![(1, 10_000)]);
        assert!(w.is_empty());
        assert_eq!(w.now(), u64::MAX);
    }

    #[test]
    fn due_and_past_deadlines_fire_at_next_poll() {
        let mut w = TimerWheel::new(1000);
        w.insert(7, 1000).unwrap();
        w.insert(6, 3).unwrap();
        w.insert(5, 1001).unwrap();
        w.insert(8, 3).unwrap();
        assert_eq!(w.next_deadline(), Some(3));
        // A `now` in the past does not move time back but still returns what is due.
        assert_eq!(w.poll(0), vec![(6, 3), (8, 3), (7, 1000)]);
        assert_eq!(w.now(), 1000);
        assert_eq!(w.poll(10), vec![]);
        assert_eq!(w.now(), 1000);
        assert_eq!(w.next_deadline(), Some(1001));
        // Rescheduling into the past makes it pending, and back into the future.
        w.insert(5, 999).unwrap();
        assert_eq!(w.next_deadline(), Some(999));
        w.insert(5, 2000).unwrap();
        assert_eq!(w.next_deadline(), Some(2000));
        assert_eq!(w.poll(1999), vec![]);
        assert_eq!(w.poll(2000), vec![(5, 2000)]);
    }

    #[test]
    fn far_deadlines_and_huge_jumps() {
        let mut w = TimerWheel::new(0);
        let span = 1u64 << 36;
        let ds = [
            span - 1,
            span,
            span + 1,
            3 * span + 17,
            1 << 50,
            (1 << 60) + 5,
            u64::MAX - 64,
            u64::MAX - 1,
            u64::MAX,
        ];
        for (i, &d) in ds.iter().enumerate() {
            w.insert(i as u64, d).unwrap();
        }
        w.insert(100, u64::MAX).unwrap();
        for (i, &d) in ds.iter().enumerate() {
            assert_eq!(w.next_deadline(), Some(d));
            assert_eq!(w.poll(d - 1), vec![]);
            assert_eq!(w.next_deadline(), Some(d));
            let mut want = vec![(i as u64, d)];
            if d == u64::MAX {
                want.push((100, d));
            }
            assert_eq!(w.poll(d), want);
        }
        assert!(w.is_empty());
        w.insert(1, 5).unwrap();
        w.insert(2, u64::MAX).unwrap();
        assert_eq!(w.poll(u64::MAX), vec![(1, 5), (2, u64::MAX)]);
        assert_eq!(w.now(), u64::MAX);
    }

    #[test]
    fn exact_minimum_inside_a_coarse_slot() {
        // All in one level-2 slot: next_deadline must be the real minimum, also after cancels.
        let mut w = TimerWheel::new(0);
        let base = 5 * 4096;
        for (id, off) in [(1, 900), (2, 17), (3, 4000), (4, 17), (5, 250)] {
            w.insert(id, base + off).unwrap();
        }
        assert_eq!(w.next_deadline(), Some(base + 17));
        assert!(w.cancel(2));
        assert_eq!(w.next_deadline(), Some(base + 17));
        assert!(w.cancel(4));
        assert_eq!(w.next_deadline(), Some(base + 250));
        w.insert(5, base + 3000).unwrap();
        assert_eq!(w.next_deadline(), Some(base + 900));
        w.insert(6, base + 1).unwrap();
        assert_eq!(w.next_deadline(), Some(base + 1));
        assert_eq!(w.poll(base + 1), vec![(6, base + 1)]);
        assert_eq!(w.next_deadline(), Some(base + 900));
    }

    /// An oracle that also keeps the (deadline, id) order, for big tests.
    #[derive(Default)]
    struct Ordered {
        by_id: BTreeMap<u64, u64>,
        order: std::collections::BTreeSet<(u64, u64)>,
    }

    impl Ordered {
        fn insert(&mut self, w: &mut TimerWheel, id: u64, d: u64) {
            let old = self.by_id.insert(id, d);
            if let Some(old) = old {
                self.order.remove(&(old, id));
            }
            self.order.insert((d, id));
            assert_eq!(w.insert(id, d).unwrap(), old);
        }

        fn cancel(&mut self, w: &mut TimerWheel, id: u64) {
            let had = self.by_id.remove(&id);
            if let Some(old) = had {
                self.order.remove(&(old, id));
            }
            assert_eq!(w.cancel(id), had.is_some());
        }
    }

    #[test]
    fn cancelling_the_earliest_in_a_big_slot() {
        // 20k timers in one level-3 slot, cancelled in deadline order with inserts, reschedules
        // and cancels of others in between: the refined heap must track the exact minimum.
        let base = 7u64 << 18;
        let mut w = TimerWheel::new(0);
        let mut o = Ordered::default();
        let mut x = 99u64;
        let mut rnd = move || {
            x = mix64(x.wrapping_add(0x9E37_79B9_7F4A_7C15));
            x
        };
        for id in 0..20_000u64 {
            o.insert(&mut w, id, base + rnd() % (1 << 18));
        }
        for step in 0..30_000u64 {
            let Some(&(d, id)) = o.order.first() else {
                break;
            };
            assert_eq!(w.next_deadline(), Some(d));
            o.cancel(&mut w, id);
            let other = rnd() % 40_000;
            match step % 4 {
                0 => o.insert(&mut w, other, base + rnd() % (1 << 18)),
                1 => o.cancel(&mut w, other),
                2 => {
                    // Churn: insert and cancel without asking for the minimum.
                    for k in 0..8 {
                        w.insert(100_000 + k, base + rnd() % (1 << 18)).unwrap();
                        assert!(w.cancel(100_000 + k));
                    }
                }
                _ => {}
            }
        }
        assert_eq!(w.len(), o.order.len());
        let want: Vec<(u64, u64)> = o.order.iter().map(|&(d, id)| (id, d)).collect();
        assert_eq!(w.poll(u64::MAX), want);
    }

    #[test]
    fn churn_does_not_grow_the_refined_heap() {
        let base = 7u64 << 18;
        let mut w = TimerWheel::new(0);
        for id in 0..1000 {
            w.insert(id, base + 1000 + id).unwrap();
        }
        assert!(w.cancel(0));
        assert_eq!(w.next_deadline(), Some(base + 1001));
        let records = || lock(&w.refined).as_ref().map(|r| r.heap.len());
        assert_eq!(records(), Some(999));
        for k in 0..100_000 {
            w.insert(5000, base + 2000 + k % 1000).unwrap();
            assert!(w.cancel(5000));
            let n = lock(&w.refined).as_ref().map_or(0, |r| r.heap.len());
            assert!(n <= 2 * 1000 + REFINE_MIN + 1, "{n}");
        }
        assert_eq!(w.next_deadline(), Some(base + 1001));
        assert!(w.cancel(1));
        assert_eq!(w.next_deadline(), Some(base + 1002));
    }

    #[test]
    fn reuse_after_drain_and_clear() {
        let mut w = TimerWheel::with_capacity(0, 100);
        for round in 0..3u64 {
            for id in 0..100 {
                w.insert(id, round * 1000 + 500 + id % 7).unwrap();
            }
            let got = w.poll(round * 1000 + 999);
            assert_eq!(got.len(), 100);
            assert!(got.windows(2).all(|p| (p[0].1, p[0].0) < (p[1].1, p[1].0)));
        }
        w.insert(1, 1).unwrap();
        w.clear();
        assert!(w.is_empty() && w.next_deadline().is_none() && !w.contains(1));
        w.insert(1, 5000).unwrap();
        assert_eq!(w.poll(6000), vec![(1, 5000)]);
        assert!(format!("{w:?}").starts_with("TimerWheel"));
    }

    #[test]
    fn million_timers() {
        const N: u64 = 1_000_000;
        let t0 = std::time::Instant::now();
        let mut w = TimerWheel::new(1000);
        let mut x = 42u64;
        let mut want = Vec::with_capacity(N as usize);
        for id in 0..N {
            x = mix64(x.wrapping_add(id));
            // Mostly within ~an hour in ms, some within a day, a few anywhere.
            let d = match x % 100 {
                0 => x >> 1,
                1..=9 => 1000 + (x >> 20) % 86_400_000,
                _ => 1000 + (x >> 20) % 3_600_000,
            };
            w.insert(id, d).unwrap();
            want.push((d, id));
        }
        let inserted = t0.elapsed();
        assert_eq!(w.len(), N as usize);
        want.sort_unstable();
        assert_eq!(w.next_deadline(), Some(want[0].0));
        let bytes = w.heap_bytes();
        eprintln!(
            "1M timers: {bytes} heap bytes = {:.1} bytes/timer; insert {inserted:?}",
            bytes as f64 / N as f64
        );
        assert!(bytes < 48 * N as usize);
        // Poll in a few hundred steps, then everything.
        let t1 = std::time::Instant::now();
        let mut got = Vec::with_capacity(N as usize);
        let mut now = 1000;
        while now < 3_700_000 {
            w.poll_into(now, &mut got);
            if let Some(&(_, d)) = got.last() {
                assert!(d <= now);
            }
            match w.next_deadline() {
                Some(next) => assert!(next > now),
                None => break,
            }
            now += 9_973;
        }
        w.poll_into(u64::MAX, &mut got);
        eprintln!("1M timers: poll {:?}", t1.elapsed());
        assert!(w.is_empty());
        let got: Vec<(u64, u64)> = got.into_iter().map(|(id, d)| (d, id)).collect();
        assert_eq!(got, want);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, Deadline),
        Cancel(u64),
        Poll(Step),
        Next,
    }

    #[derive(Debug, Clone)]
    enum Deadline {
        /// now + small
        Near(u64),
        /// now + 2^bits + small
        Far(u32, u64),
        /// now - small
        Past(u64),
        Absolute(u64),
        Max,
    }

    #[derive(Debug, Clone)]
    enum Step {
        Small(u64),
        Pow(u32, u64),
        Back(u64),
        ToNextDeadline,
        ToMax,
    }

    fn op() -> impl Strategy<Value = Op> {
        let id = 0u64..40;
        let deadline = prop_oneof![
            6 => (0u64..300).prop_map(Deadline::Near),
            4 => (6u32..64, 0u64..1000).prop_map(|(b, s)| Deadline::Far(b, s)),
            1 => (0u64..100).prop_map(Deadline::Past),
            1 => any::<u64>().prop_map(Deadline::Absolute),
            1 => Just(Deadline::Max),
        ];
        let step = prop_oneof![
            6 => (0u64..100).prop_map(Step::Small),
            3 => (6u32..64, 0u64..100).prop_map(|(b, s)| Step::Pow(b, s)),
            1 => (0u64..100).prop_map(Step::Back),
            2 => Just(Step::ToNextDeadline),
            1 => Just(Step::ToMax),
        ];
        prop_oneof![
            8 => (id.clone(), deadline).prop_map(|(i, d)| Op::Insert(i, d)),
            3 => (0u64..45).prop_map(Op::Cancel),
            4 => step.prop_map(Op::Poll),
            2 => Just(Op::Next),
        ]
    }

    /// The oracle: a map and a clock.
    struct Model {
        now: u64,
        timers: BTreeMap<u64, u64>,
    }

    impl Model {
        fn next(&self) -> Option<u64> {
            self.timers.values().copied().min()
        }

        fn poll(&mut self, now: u64) -> Vec<(u64, u64)> {
            self.now = self.now.max(now);
            let mut due: Vec<(u64, u64)> = self
                .timers
                .iter()
                .filter(|&(_, &d)| d <= self.now)
                .map(|(&id, &d)| (id, d))
                .collect();
            due.sort_by_key(|&(id, d)| (d, id));
            for (id, _) in &due {
                self.timers.remove(id);
            }
            due
        }
    }

    fn run(start: u64, ops: Vec<Op>) {
        let mut w = TimerWheel::new(start);
        let mut m = Model {
            now: start,
            timers: BTreeMap::new(),
        };
        for op in ops {
            match op {
                Op::Insert(id, d) => {
                    let now = m.now;
                    let d = match d {
                        Deadline::Near(s) => now.saturating_add(s),
                        Deadline::Far(b, s) => now.saturating_add(1 << b).saturating_add(s),
                        Deadline::Past(s) => now.saturating_sub(s),
                        Deadline::Absolute(d) => d,
                        Deadline::Max => u64::MAX,
                    };
                    assert_eq!(w.insert(id, d).unwrap(), m.timers.insert(id, d));
                }
                Op::Cancel(id) => assert_eq!(w.cancel(id), m.timers.remove(&id).is_some()),
                Op::Next => assert_eq!(w.next_deadline(), m.next()),
                Op::Poll(step) => {
                    let now = m.now;
                    let to = match step {
                        Step::Small(s) => now.saturating_add(s),
                        Step::Pow(b, s) => now.saturating_add(1 << b).saturating_add(s),
                        Step::Back(s) => now.saturating_sub(s),
                        Step::ToNextDeadline => m.next().unwrap_or(now),
                        Step::ToMax => u64::MAX,
                    };
                    assert_eq!(w.poll(to), m.poll(to));
                    assert_eq!(w.now(), m.now);
                }
            }
            assert_eq!(w.len(), m.timers.len());
            assert_eq!(w.next_deadline(), m.next());
        }
        for (&id, &d) in &m.timers {
            assert_eq!(w.deadline_of(id), Some(d));
        }
        assert_eq!(w.poll(u64::MAX), m.poll(u64::MAX));
        assert!(w.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn matches_oracle(
            start in prop_oneof![Just(0u64), 0u64..1_000_000, any::<u64>(), Just(u64::MAX - 1000)],
            ops in proptest::collection::vec(op(), 1..300),
        ) {
            run(start, ops);
        }
    }

    /// Many timers in few coarse slots, with cancels of the earliest: exercises min caching,
    /// the id table's deletion and slab reuse at a larger scale than the proptest.
    #[test]
    fn randomized_against_oracle_large() {
        let mut x = 7u64;
        let mut rnd = move || {
            x = mix64(x.wrapping_add(0x9E37_79B9_7F4A_7C15));
            x
        };
        let mut w = TimerWheel::new(0);
        let mut m = Model {
            now: 0,
            timers: BTreeMap::new(),
        };
        for _ in 0..100_000 {
            let r = rnd();
            match r % 10 {
                0..=4 => {
                    let id = rnd() % 5000;
                    let d = m.now + rnd() % (1 << (rnd() % 40));
                    assert_eq!(w.insert(id, d).unwrap(), m.timers.insert(id, d));
                }
                5 | 6 => {
                    // Cancel the current earliest timer, or a random id.
                    let id = if r % 3 == 0 {
                        m.timers
                            .iter()
                            .min_by_key(|&(id, d)| (*d, *id))
                            .map_or(0, |(id, _)| *id)
                    } else {
                        rnd() % 5000
                    };
                    assert_eq!(w.cancel(id), m.timers.remove(&id).is_some());
                }
                7 | 8 => assert_eq!(w.next_deadline(), m.next()),
                _ => {
                    let to = m.now + rnd() % (1 << (rnd() % 36));
                    assert_eq!(w.poll(to), m.poll(to));
                }
            }
            assert_eq!(w.len(), m.timers.len());
        }
    }
}
