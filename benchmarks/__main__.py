"""Command line: ``python -m benchmarks --output docs/appendix/performance_results.json``."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.run import FULL, QUICK, SECTIONS, run, stderr, summary_lines, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Time the book's attention, encoder layer and classifier against PyTorch's own "
            "modules on this machine, and write the results as JSON."
        ),
    )
    parser.add_argument("--output", type=Path, help="write the results here (JSON); omitted: only a summary")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, two repeats: a smoke test, not a measurement"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help=(
            "PyTorch intra-op threads (default 1: on a machine shared with other work, threads "
            "that wait for each other turn every interruption into a stall)"
        ),
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every weight and input (default 0)")
    parser.add_argument(
        "--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="run these sections only"
    )
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be a positive integer")

    result = run(
        QUICK if args.quick else FULL,
        seed=args.seed,
        threads=args.threads,
        sections=args.only,
        quick=args.quick,
        log=stderr,
    )
    for line in summary_lines(result):
        print(line)
    if args.output is not None:
        write(result, args.output)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
