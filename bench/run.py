"""`make bench`: every benchmark in turn, each printing its ratios against baselines measured in the
same run (a naive one; for ingestion also the ceiling, bench/ceiling_ingest.py, by requests/s and
by instructions per request)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The dashboard at 1M and 10M events, campaign metrics at 1M messages, per-lead analytics at 20,000
# and 100,000 leads (generated databases are cached under bench/data/).
BENCHMARKS = [["ingest.py"], ["ingest_cost.py"], ["dashboard.py", "--events", "1000000", "10000000"],
              ["campaigns.py", "--messages", "1000000"], ["leads.py"]]


def main() -> int:
    failed = 0
    for command in BENCHMARKS:
        print(f"\n=== bench/{' '.join(command)} ===", flush=True)
        failed |= subprocess.run([sys.executable, str(HERE / command[0]), *command[1:]]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
