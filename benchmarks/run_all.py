"""Run every ``benchmarks/bench_*.py`` in turn (``make bench``).

Each benchmark is a standalone script run with this interpreter; its output goes
straight to the terminal. The exit code is non-zero if any benchmark failed to run
(missing an aim is reported by the benchmark itself, not as a failure).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    scripts = sorted(HERE.glob("bench_*.py"))
    if not scripts:
        print("no benchmark found")
        return 0
    for script in scripts:
        print(f"=== {script.name} ===", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, check=False)
        elapsed = time.perf_counter() - started
        status = "ok" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
        print(f"=== {script.name}: {status} in {elapsed:.1f} s ===\n", flush=True)
        if result.returncode:
            failed.append(script.name)
    if failed:
        print("failed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
