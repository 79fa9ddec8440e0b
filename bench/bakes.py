"""Bake time of the default answers and of every valid option combination."""

import tempfile
import time
from pathlib import Path

from bench.common import median, remove
from tests.helpers import VALID_COMBINATIONS, bake, combination_id


def time_bake(context: dict[str, str]) -> float:
    output_dir = Path(tempfile.mkdtemp(prefix="bench-bake-"))
    try:
        start = time.perf_counter()
        bake(output_dir, **context)
        return time.perf_counter() - start
    finally:
        remove(output_dir)


def bake_times(repeats: int) -> list[tuple[str, float]]:
    """(label, median seconds) for the default, then every valid combination."""
    cases = [("default", {})] + [(combination_id(c), c) for c in VALID_COMBINATIONS]
    samples: dict[str, list[float]] = {label: [] for label, _ in cases}
    # Round-robin, so a noisy moment on the shared machine hits every case a little.
    time_bake({})  # warm the import and template caches
    for _ in range(repeats):
        for label, context in cases:
            samples[label].append(time_bake(context))
    return [(label, median(times)) for label, times in samples.items()]
