"""bench/ingest_cost.py, as the README has it run, at a small size: both apps answer every request
under callgrind and each gets a count (the full run is `make bench`'s)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed (make system-deps)")
def test_ingest_cost_counts_both_apps() -> None:
    out = subprocess.run(
        [sys.executable, "bench/ingest_cost.py", "--waves", "1", "--concurrency", "4", "--batch", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    counts = {words[0]: int(words[1].replace(",", "")) for words in map(str.split, out.splitlines())
              if words[:1] in (["leadlight"], ["ceiling"])}
    assert set(counts) == {"leadlight", "ceiling"} and min(counts.values()) > 0
    assert f"leadlight/ceiling instructions per request: {counts['leadlight'] / counts['ceiling']:.2f}x" in out
