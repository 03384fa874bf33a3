"""A short soak (the 10-minute one is `python -m bench.soak`): no errors, flat RSS."""

from __future__ import annotations

from bench.soak import soak


async def test_a_short_soak_has_no_errors_and_no_memory_growth() -> None:
    result = await soak(sessions=20, seconds=20, sample_every=2)
    assert result.errors == []
    assert result.responses >= 20 * 5  # every session answered again and again
    settled = [mb for t, mb in result.rss_mb if t >= 5]
    assert max(settled) - min(settled) < 30, result.rss_mb  # generous: flat, not growing
