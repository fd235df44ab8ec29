"""Memory is flat in the number of rows: ten times the traffic, about the same peak."""

from __future__ import annotations

import itertools
import tracemalloc

from monitoring.analyzer import WindowAnalyzer


def peak_bytes(schema, baseline, pool: list[str], rows: int) -> int:
    lines = itertools.islice(itertools.cycle(pool), rows)  # produced lazily, as S3 streams
    analyzer = WindowAnalyzer(schema=schema, baseline=baseline, chunk_lines=5_000)
    tracemalloc.start()
    try:
        analyzer.consume(lines)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert analyzer.rows == rows
    return peak


def test_peak_memory_does_not_grow_with_rows(schema, baseline, traffic) -> None:
    pool = [r.line for r in traffic(2_000, seed=9)]
    small = peak_bytes(schema, baseline, pool, 20_000)
    large = peak_bytes(schema, baseline, pool, 200_000)
    assert large < small * 1.25, (small, large)
