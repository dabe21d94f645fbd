"""`python -m benchmarks [NAME ...]`: run benchmark modules, print their tables, save JSON.

Every module measures against a baseline taken in the same run (the machines are shared and
noisy), so the ratios are what to compare across runs, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import sys
import time
from pathlib import Path

from benchmarks._goals import report

OUT = Path(__file__).parent / "results"


def available() -> list[str]:
    """Benchmark modules: every public module of this package (helpers start with `_`)."""
    return sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if not m.name.startswith("_")
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=f"Run benchmark modules, print their tables, save JSON to {OUT}/.",
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default: all of {available()})",
    )
    names = parser.parse_args(argv).names or available()
    OUT.mkdir(exist_ok=True)
    results: dict[str, object] = {}
    summary: dict[str, object] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
    }
    failed = 0
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        run = getattr(module, "run", None)
        if run is None:
            continue
        print(f"\n== {name} ==", flush=True)
        try:
            result = run(OUT)
        except Exception as exc:  # a broken benchmark must not hide the others' numbers
            print(f"benchmark {name} failed: {exc!r}", file=sys.stderr)
            failed += 1
            continue
        results[name] = result
        (OUT / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    report(results, OUT)  # the one-screen goals table, and results/goals.json
    print(f"\nresults written to {OUT}/")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
