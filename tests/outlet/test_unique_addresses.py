"""The enricher's distinct-address step agrees with np.unique, collisions included."""

from __future__ import annotations

import numpy as np
import pytest

from collector.outlet.core.enricher import _MIX, unique_addresses


def addresses(halves: list[tuple[int, int]]) -> np.ndarray:
    return np.array(halves, dtype=np.uint64).view("S16").ravel()


def check(addrs: np.ndarray) -> None:
    uniq, first, inverse = unique_addresses(addrs)
    assert len(uniq) == len(np.unique(addrs))
    assert (uniq[inverse] == addrs).all()
    assert (addrs[first] == uniq).all()


@pytest.mark.parametrize("shared_high_half", [True, False], ids=["ipv4-like", "mixed"])
def test_matches_numpy(shared_high_half: bool) -> None:
    rng = np.random.default_rng(7)
    raw = rng.integers(0, 3, size=(5000, 16), dtype=np.uint8)
    if shared_high_half:
        raw[:, :8] = 0
    check(raw.view("S16").ravel())


def test_hash_collision_falls_back_to_the_exact_sort() -> None:
    # Two addresses with the same hash hi * _MIX + lo (mod 2**64), and a third.
    hi1, lo1, hi2 = 1, 5, 2
    lo2 = (lo1 + (hi1 - hi2) * int(_MIX)) % 2**64
    addrs = addresses([(hi1, lo1), (hi2, lo2), (3, 3), (hi1, lo1)])
    with np.errstate(over="ignore"):
        h = addrs.view(np.uint64).reshape(-1, 2)
        assert h[0, 0] * _MIX + h[0, 1] == h[1, 0] * _MIX + h[1, 1]
    check(addrs)
    assert len(unique_addresses(addrs)[0]) == 3
