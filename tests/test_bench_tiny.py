"""Every benchmark, once, at a tiny scale: a benchmark no test runs breaks silently.

The figures of a tiny run mean nothing and nothing is asserted about them; what is asserted is
that each benchmark module ran to its end and recorded its rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

BENCH = ROOT / "tests" / "bench"


def test_every_benchmark_runs_at_a_tiny_scale(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKFORCE_BENCH")}
    env |= {"TASKFORCE_BENCH_TINY": "1", "TASKFORCE_BENCH_RESULTS": str(results)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(BENCH), "-q", "-rs", "-o", "addopts=",
         "-p", "no:cacheprovider", "-x"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    tail = (done.stdout + done.stderr)[-6000:]
    assert done.returncode == 0, tail
    modules = sorted(p.stem for p in BENCH.glob("test_bench_*.py"))
    summary = done.stdout.splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, tail
    if os.environ.get("TASKFORCE_TEST_POSTGRES_URL"):
        # With PostgreSQL the PostgreSQL benchmarks and the province day run too.
        skips = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
        assert not [s for s in skips if "PostgreSQL" in s], tail
    assert results.exists(), tail
    rows = json.loads(results.read_text(encoding="utf-8"))
    assert rows, f"no benchmark recorded a row; modules: {modules}"
