"""Backoff: the delay table, the cap, jitter bounds and argument validation."""

import copy
import math
import pickle

import pytest

from fastscheduler._core import Backoff


def test_default_table() -> None:
    b = Backoff()
    assert [b.delay(a) for a in range(1, 15)] == [
        2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 3600.0, 3600.0, 3600.0,
    ]  # fmt: skip
    assert b.delays(12) == [2.0 * 2**k for k in range(11)] + [3600.0]
    assert b.delays(0) == []
    assert (b.base, b.factor, b.max, b.jitter) == (2.0, 2.0, 3600.0, None)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"base": 1, "factor": 3, "max": 100}, [1.0, 3.0, 9.0, 27.0, 81.0, 100.0, 100.0]),
        ({"base": 0.5, "factor": 1.5, "max": 10}, [0.5, 0.75, 1.125, 1.6875, 2.53125, 3.796875, 5.6953125]),
        ({"base": 5, "factor": 1, "max": 60}, [5.0] * 7),
        ({"base": 7, "factor": 10, "max": 7}, [7.0] * 7),
        ({"base": 2, "factor": 2, "max": 2048}, [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]),
    ],
)
def test_custom_tables(kwargs: dict[str, float], expected: list[float]) -> None:
    assert Backoff(**kwargs).delays(7) == expected


def test_positional_arguments_and_cap() -> None:
    b = Backoff(1.0, 10.0, 500.0)
    assert b.delays(5) == [1.0, 10.0, 100.0, 500.0, 500.0]
    assert b == Backoff(base=1.0, factor=10.0, max=500.0, jitter=None)


@pytest.mark.parametrize("attempt", [64, 1100, 2**31, 2**32 - 1, 2**32, 2**63, 2**64, 2**200])
def test_huge_attempts_give_the_cap(attempt: int) -> None:
    assert Backoff().delay(attempt) == 3600.0
    assert Backoff(1.0, 1.0000001, 1e100).delay(attempt * 2**40) == 1e100
    assert Backoff(3.0, 1.0, 10.0).delay(attempt) == 3.0


def test_delays_never_inf_or_nan() -> None:
    b = Backoff(base=1e-300, factor=1e300, max=1e300, jitter="full")
    for a in (1, 2, 3, 10, 2**40):
        d = b.delay(a)
        assert math.isfinite(d) and 0.0 <= d < 1e300


@pytest.mark.parametrize("jitter", ["full", "equal"])
def test_jitter_stays_in_bounds_and_varies(jitter: str) -> None:
    b = Backoff(base=1.0, factor=2.0, max=100.0, jitter=jitter)
    plain = Backoff(base=1.0, factor=2.0, max=100.0)
    assert b.jitter == jitter
    for attempt in (1, 3, 7, 20):
        d = plain.delay(attempt)
        lo = 0.0 if jitter == "full" else d / 2
        draws = [b.delay(attempt) for _ in range(4000)]
        assert all(lo <= x < d for x in draws), (attempt, min(draws), max(draws))
        assert len(set(draws)) > 3900  # not constant, hardly ever repeated
        # Roughly uniform: the mean is near the middle of the interval.
        mean = sum(draws) / len(draws)
        assert abs(mean - (lo + d) / 2) < 0.05 * d
    listed = b.delays(20)
    assert len(listed) == 20
    assert all(0.0 <= x < plain.delay(i + 1) for i, x in enumerate(listed))


def test_repr_eq_hash() -> None:
    assert repr(Backoff()) == "Backoff(base=2.0, factor=2.0, max=3600.0, jitter=None)"
    assert repr(Backoff(1, 3, 1e20, "full")) == "Backoff(base=1.0, factor=3.0, max=1e+20, jitter='full')"
    assert repr(Backoff(jitter="equal")) == "Backoff(base=2.0, factor=2.0, max=3600.0, jitter='equal')"
    assert Backoff() == Backoff(2, 2, 3600)
    assert hash(Backoff()) == hash(Backoff(2, 2, 3600))
    assert Backoff() != Backoff(jitter="full")
    assert Backoff(jitter="full") != Backoff(jitter="equal")
    assert Backoff() != Backoff(max=3599)
    assert Backoff() != (2.0, 2.0, 3600.0, None)
    assert len({Backoff(), Backoff(2, 2, 3600), Backoff(jitter="full")}) == 2
    b = Backoff(jitter="full")
    assert eval(repr(b), {"Backoff": Backoff}) == b


def test_frozen() -> None:
    b = Backoff()
    with pytest.raises(AttributeError):
        b.base = 3.0  # type: ignore[misc]


def test_pickle_and_copy() -> None:
    for b in (Backoff(), Backoff(0.25, 3, 60, "equal"), Backoff(jitter="full")):
        assert pickle.loads(pickle.dumps(b)) == b
        assert copy.deepcopy(b) == b


def test_reduce() -> None:
    b = Backoff(0.25, 3, 60, "equal")
    cls, args = b.__reduce__()
    assert cls is Backoff
    assert cls(*args) == b


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": 0}, r"^base must be a finite number > 0, got 0\.0$"),
        ({"base": -1.5}, r"^base must be a finite number > 0, got -1\.5$"),
        ({"base": math.nan}, r"^base must be a finite number > 0, got NaN$"),
        ({"base": math.inf}, r"^base must be a finite number > 0, got inf$"),
        ({"factor": 0.5}, r"^factor must be a finite number >= 1, got 0\.5$"),
        ({"factor": 0}, r"^factor must be a finite number >= 1, got 0\.0$"),
        ({"factor": math.inf}, r"^factor must be a finite number >= 1, got inf$"),
        ({"factor": math.nan}, r"^factor must be a finite number >= 1, got NaN$"),
        ({"max": 1}, r"^max must be a finite number >= base \(2\.0\), got 1\.0$"),
        ({"max": math.inf}, r"^max must be a finite number >= base \(2\.0\), got inf$"),
        ({"max": -5}, r"^max must be a finite number >= base \(2\.0\), got -5\.0$"),
        ({"jitter": "random"}, r"^jitter must be None, 'full' or 'equal', got \"random\"$"),
        ({"jitter": "Full"}, r"^jitter must be None, 'full' or 'equal', got \"Full\"$"),
        ({"jitter": ""}, r"^jitter must be None, 'full' or 'equal', got \"\"$"),
        ({"jitter": 1}, r"^jitter must be None, 'full' or 'equal', got 1$"),
        ({"jitter": True}, r"^jitter must be None, 'full' or 'equal', got True$"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("attempt", [0, -1, -(2**70)])
def test_bad_attempt(attempt: int) -> None:
    b = Backoff(jitter="full")
    with pytest.raises(ValueError, match=rf"^attempt must be >= 1, got {attempt}$"):
        b.delay(attempt)


def test_bad_count() -> None:
    with pytest.raises(ValueError, match=r"^n must be >= 0, got -3$"):
        Backoff().delays(-3)


def test_wrong_types() -> None:
    b = Backoff()
    with pytest.raises(TypeError):
        b.delay(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        b.delay(attempt=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        b.delays("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Backoff(base="1")  # type: ignore[arg-type]
