"""Sandbox throughput: the wall time of REWARDS["code"] judging a batch of short programs in rlkit.sandbox.

Scores a batch of ``--n`` short correct programs, then a batch of ``--n`` wrong ones (each a one-line function
with 3 asserts, the size of an MBPP row), ``--repeats`` times, and reports the median wall seconds per batch
and per program. Every program runs in its own sandboxed process, forked by the sandbox's server, as many at
once as the machine has cores, so the cost is mostly the fork and the layers: the sandbox's layers are printed
first (probing them is done then, outside the timed batches; the servers start in the first batch). No two programs of a run are the same, so none is answered by a
remembered verdict. Prints one markdown row per kind of program, naming the machine.

    python benchmarks/sandbox_throughput.py                       # 16 + 16 programs, 3 repeats
    python benchmarks/sandbox_throughput.py --n 64 --repeats 5
    RLKIT_SANDBOX=limits-only python benchmarks/sandbox_throughput.py   # without seccomp, for comparison
"""

from __future__ import annotations

import argparse
import os
import time
from statistics import median

from _common import machine, row


def program(i: int, correct: bool) -> tuple[str, list[str]]:
    """A completion in P3's format defining ``add_i(x) = x + i`` (off by one when wrong), and its 3 asserts."""
    from rlkit.data import tagged

    body = f"x + {i}" if correct else f"x + {i + 1}"
    code = f"```python\ndef add_{i}(x):\n    return {body}\n```"
    tests = [f"assert add_{i}({x}) == {x + i}" for x in (0, 7, -3)]
    return tagged(f"Add {i} to x.", code), tests


def timed_batch(n: int, correct: bool, first: int) -> float:
    """Wall seconds for REWARDS["code"] to score programs ``first`` .. ``first + n - 1`` of one kind; checks that
    it scored them right."""
    from rlkit.rewards import get_reward

    completions, tests = zip(*(program(i, correct) for i in range(first, first + n)), strict=True)
    t0 = time.perf_counter()
    scores = get_reward("code")(list(completions), test_list=list(tests))
    seconds = time.perf_counter() - t0
    expected = 1.0 if correct else 0.0
    if scores != [expected] * n:
        raise SystemExit(f"The code reward scored the {'correct' if correct else 'wrong'} programs {scores}, "
                         f"not all {expected}: the timing would not be of judged programs.")
    return seconds


def main() -> None:
    from rlkit import sandbox

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="programs of each kind in a batch")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print(sandbox.describe())  # probes the layers once, before any timing
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    print(f"machine: {machine()} | {args.n} programs of each kind, 3 asserts each, "
          f"{min(args.n, cores)} at once, {args.repeats} repeats\n")
    print(row(["programs", "batch", "wall s (median)", "s / program", "machine"]))
    print(row(["---"] * 5))
    for label, correct in (("correct", True), ("wrong", False)):
        seconds = median(timed_batch(args.n, correct, first=repeat * args.n) for repeat in range(args.repeats))
        print(row([label, args.n, f"{seconds:.2f}", f"{seconds / args.n:.3f}", machine()]), flush=True)


if __name__ == "__main__":
    main()
