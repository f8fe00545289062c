"""TimerWheel: ordering, replacement, cancellation, huge times, and random operations vs heapq."""

import heapq
import random

import pytest

from fastscheduler._core import TimerWheel

U64_MAX = 2**64 - 1


class HeapOracle:
    """The reference: a heap with lazy deletion, plus the wheel's clock semantics."""

    def __init__(self, now: int) -> None:
        self.now = now
        self.deadlines: dict[int, int] = {}
        self.heap: list[tuple[int, int]] = []

    def insert(self, id_: int, deadline: int) -> None:
        self.deadlines[id_] = deadline
        heapq.heappush(self.heap, (deadline, id_))

    def cancel(self, id_: int) -> bool:
        return self.deadlines.pop(id_, None) is not None

    def _purge(self) -> None:
        while self.heap and self.deadlines.get(self.heap[0][1]) != self.heap[0][0]:
            heapq.heappop(self.heap)

    def next_deadline(self) -> int | None:
        self._purge()
        return self.heap[0][0] if self.heap else None

    def poll(self, now: int) -> list[int]:
        self.now = max(self.now, now)
        out = []
        while True:
            self._purge()
            if not self.heap or self.heap[0][0] > self.now:
                return out
            _, id_ = heapq.heappop(self.heap)
            del self.deadlines[id_]
            out.append(id_)


def test_basic() -> None:
    w = TimerWheel()
    assert len(w) == 0 and not w
    assert w.now == 0
    assert w.next_deadline() is None
    assert w.poll(100) == []
    assert w.now == 100
    w.insert(1, 150)
    w.insert(2, 120)
    w.insert(3, 5000)
    assert len(w) == 3
    assert 1 in w and 4 not in w
    assert w.deadline_of(3) == 5000
    assert w.deadline_of(4) is None
    assert w.next_deadline() == 120
    assert repr(w) == "TimerWheel(now=100, len=3, next_deadline=120)"
    assert w.poll(149) == [2]
    assert w.poll(10_000) == [1, 3]
    assert len(w) == 0
    assert repr(w) == "TimerWheel(now=10000, len=0, next_deadline=None)"


def test_order_is_deadline_then_id() -> None:
    w = TimerWheel(0)
    items = [(7, 50), (3, 50), (9, 10), (1, 50), (2, 4096), (8, 10), (5, 70_000)]
    for id_, d in items:
        w.insert(id_, d)
    assert w.poll(U64_MAX) == [id_ for d, id_ in sorted((d, i) for i, d in items)]


def test_reinsert_replaces_deadline() -> None:
    w = TimerWheel(0)
    w.insert(1, 100)
    w.insert(1, 10)
    assert len(w) == 1
    assert w.deadline_of(1) == 10
    assert w.next_deadline() == 10
    w.insert(1, 1_000_000)
    assert w.next_deadline() == 1_000_000
    assert w.poll(999_999) == []
    assert w.poll(1_000_000) == [1]


def test_cancel() -> None:
    w = TimerWheel(0)
    for i in range(10):
        w.insert(i, 1000 + i)
    assert w.cancel(0) is True
    assert w.cancel(0) is False
    assert w.cancel(12345) is False
    assert w.next_deadline() == 1001
    assert w.cancel(1) and w.cancel(5)
    assert w.poll(2000) == [2, 3, 4, 6, 7, 8, 9]


def test_exact_next_deadline_in_a_coarse_slot() -> None:
    # Deadlines far apart inside one coarse slot: next_deadline is exact, not a slot boundary.
    w = TimerWheel(0)
    base = 3 * 64**3
    for id_, off in [(1, 200_000), (2, 77), (3, 150_000), (4, 1234)]:
        w.insert(id_, base + off)
    assert w.next_deadline() == base + 77
    w.cancel(2)
    assert w.next_deadline() == base + 1234
    assert w.poll(base + 1233) == []
    assert w.next_deadline() == base + 1234


def test_past_deadlines_and_time_never_goes_back() -> None:
    w = TimerWheel(1000)
    w.insert(1, 5)
    w.insert(2, 1000)
    w.insert(3, 1001)
    assert w.next_deadline() == 5
    # An earlier `now` returns what was inserted already due, and keeps the time.
    assert w.poll(0) == [1, 2]
    assert w.now == 1000
    assert w.poll(500) == []
    assert w.now == 1000
    assert w.poll(1001) == [3]


def test_huge_deadlines_and_jumps() -> None:
    w = TimerWheel(0)
    span = 64**6
    ds = [span - 1, span, span + 1, 5 * span, 2**50, 2**63, U64_MAX - 1, U64_MAX]
    for i, d in enumerate(ds):
        w.insert(i, d)
    for i, d in enumerate(ds):
        assert w.next_deadline() == d
        assert w.poll(d - 1) == []
        assert w.poll(d) == [i]
    w.insert(99, U64_MAX)
    assert w.poll(U64_MAX) == [99]
    assert w.now == U64_MAX


def test_bad_arguments() -> None:
    w = TimerWheel()
    with pytest.raises(OverflowError, match=r"^id must be an int in \[0, 2\*\*64\), got -1$"):
        w.insert(-1, 5)
    with pytest.raises(OverflowError, match=r"^deadline must be an int in \[0, 2\*\*64\), got -5$"):
        w.insert(1, -5)
    with pytest.raises(OverflowError, match=r"^deadline must be an int in .*, got 18446744073709551616$"):
        w.insert(1, 2**64)
    with pytest.raises(OverflowError, match=r"^now must be an int in \[0, 2\*\*64\)"):
        w.poll(-1)
    with pytest.raises(OverflowError, match=r"^now must be an int"):
        TimerWheel(-1)
    with pytest.raises(OverflowError, match=r"^id must be an int"):
        w.cancel(-1)
    with pytest.raises(OverflowError, match=r"^id must be an int"):
        w.deadline_of(2**70)
    with pytest.raises(TypeError):
        w.insert("a", 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        w.insert(1, 1.5)  # type: ignore[arg-type]
    assert len(w) == 0
    assert -1 not in w
    assert "a" not in w
    assert 2**64 not in w


@pytest.mark.parametrize("seed", range(12))
def test_random_operations_match_heapq(seed: int) -> None:
    rng = random.Random(seed)
    start = rng.choice([0, rng.randrange(10**6), rng.randrange(2**64), U64_MAX - 500])
    w = TimerWheel(start)
    o = HeapOracle(start)
    for _ in range(3000):
        r = rng.random()
        if r < 0.45:
            id_ = rng.randrange(60)
            kind = rng.random()
            if kind < 0.5:
                d = o.now + rng.randrange(300)
            elif kind < 0.85:
                d = o.now + 2 ** rng.randrange(6, 64) + rng.randrange(1000)
            elif kind < 0.95:
                d = max(0, o.now - rng.randrange(100))
            else:
                d = rng.choice([U64_MAX, rng.randrange(2**64)])
            d = min(d, U64_MAX)
            w.insert(id_, d)
            o.insert(id_, d)
        elif r < 0.6:
            id_ = rng.randrange(70)
            assert w.cancel(id_) == o.cancel(id_)
        elif r < 0.7:
            assert w.next_deadline() == o.next_deadline()
        else:
            step = rng.random()
            if step < 0.6:
                now = o.now + rng.randrange(100)
            elif step < 0.85:
                now = o.now + 2 ** rng.randrange(6, 64) + rng.randrange(100)
            elif step < 0.95:
                now = max(0, o.now - rng.randrange(100))
            else:
                now = o.next_deadline() or o.now
            now = min(now, U64_MAX)
            assert w.poll(now) == o.poll(now)
            assert w.now == o.now
        assert len(w) == len(o.deadlines)
        assert w.next_deadline() == o.next_deadline()
    for id_, d in o.deadlines.items():
        assert id_ in w
        assert w.deadline_of(id_) == d
    assert w.poll(U64_MAX) == o.poll(U64_MAX)
    assert len(w) == 0


def test_200k_round_trip() -> None:
    rng = random.Random(2024)
    n = 200_000
    w = TimerWheel(1_000, capacity=n)
    deadlines = {i: 1_000 + rng.randrange(3_600_000) for i in range(n)}
    for i, d in deadlines.items():
        w.insert(i, d)
    assert len(w) == n
    # Replace a tenth, cancel another tenth.
    for i in range(0, n, 10):
        d = 1_000 + rng.randrange(3_600_000)
        w.insert(i, d)
        deadlines[i] = d
    for i in range(5, n, 10):
        assert w.cancel(i)
        del deadlines[i]
    assert len(w) == len(deadlines)
    expected = [i for d, i in sorted((d, i) for i, d in deadlines.items())]
    assert w.next_deadline() == min(deadlines.values())
    got: list[int] = []
    now = 1_000
    while len(w):
        now += 60_000
        batch = w.poll(now)
        assert all(deadlines[i] <= now for i in batch)
        got.extend(batch)
        nd = w.next_deadline()
        assert nd is None or nd > now
    assert got == expected


def test_one_big_poll() -> None:
    # Large enough that the poll runs with the GIL released.
    w = TimerWheel(0)
    n = 50_000
    for i in range(n):
        w.insert(i, (i * 7919) % 100_000 + 1)
    got = w.poll(U64_MAX)
    assert len(got) == n and len(w) == 0
    assert got == [i for _, i in sorted(((i * 7919) % 100_000 + 1, i) for i in range(n))]
