"""A pytest plugin the bench loads into baked projects (`-p bench_timings`).

It appends each test phase's duration to the JSON-lines file named by BENCH_TIMINGS, so the
bench can tell setup, call and teardown apart without parsing pytest's text output.
"""

import json
import os
from typing import Any


def pytest_runtest_logreport(report: Any) -> None:
    path = os.environ.get("BENCH_TIMINGS")
    if not path:
        return
    record = {
        "nodeid": report.nodeid,
        "when": report.when,
        "duration": report.duration,
        "outcome": report.outcome,
    }
    with open(path, "a") as timings:
        timings.write(json.dumps(record) + "\n")
