"""The bounded memory every long-running part uses instead of a dict that only grows."""

from __future__ import annotations

from bot.lru import BoundedLRU


def test_the_least_recently_used_entry_goes_first() -> None:
    seen: BoundedLRU[str, int] = BoundedLRU(2)
    seen.put("a", 1)
    seen.put("b", 2)
    assert seen.get("a") == 1  # "a" is now the newest
    seen.put("c", 3)
    assert "b" not in seen and "a" in seen and "c" in seen and len(seen) == 2
    assert seen.pop("a") == 1 and seen.pop("a") is None
    assert seen.get("zzz", 7) == 7


def test_size_zero_keeps_nothing() -> None:
    none: BoundedLRU[str, int] = BoundedLRU(0)
    none.put("a", 1)
    assert len(none) == 0
