"""Step time of a parallel grid under load: one thread, every thread, and the default (the
ThreadChooser of :mod:`pdesolve.fv.backends.numba.threads`), with and without busy loops.

The problem is the benchmark problem of :mod:`cases` (balanced reaction, F = ½|x|²) on a
256² grid, at or above the size from which the kernels run in parallel.  "Load" is one
busy-loop process per core (``while True: pass``), started before the timed runs and
killed after.  Each configuration runs ``--steps`` steps after a warm-up step and is
repeated; the table gives medians of the mean step time, and the ratios the reliability issue asks for:

* loaded: default / one thread must stay ≤ 1.5 (it was 59–73 ms against 0.44–1.4 ms per
  step, ~50–150×, with every thread);
* unloaded: default / every thread ≈ 1 (the two-thread speed-up is kept).

Run: ``python benchmarks/thread_load.py [--steps N] [--repeats R] [--out FILE]``; writes
``benchmarks/THREAD_LOAD.md`` by default.  It takes about a minute on two cores.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numba

from cases import make_solver
from pdesolve.fv.backends.numba.threads import ThreadChooser

CELLS = (256, 256)
HERE = Path(__file__).resolve().parent


def seconds_per_step(counts: tuple[int, ...] | None, steps: int) -> float:
    """Mean step seconds of ``steps`` steps with a new chooser of ``counts`` (None: the
    default candidates, as a new run has them), after one untimed step (the chooser's
    warm-up): its first probe falls in the timed steps, as in a run."""
    solver = make_solver(CELLS, order=2)
    backend = solver.backend
    default = backend.thread_chooser
    backend.thread_chooser = ThreadChooser(default.counts if counts is None else counts)
    try:
        dt = solver.stable_dt()
        solver.step(dt)
        times = []
        for _ in range(steps):
            started = time.perf_counter()
            solver.step(dt)
            times.append(time.perf_counter() - started)
    finally:
        backend.thread_chooser = default
    return sum(times) / steps


def busy_loops(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def measure(steps: int, repeats: int) -> dict[str, dict[str, float]]:
    most = numba.get_num_threads()
    configurations = {"one thread": (1,), f"every thread ({most})": (most,), "default (chosen by timing)": None}
    table = {}
    for load in ("unloaded", f"{os.cpu_count()} busy loops"):
        loops = busy_loops(os.cpu_count()) if load != "unloaded" else []
        try:
            time.sleep(0.5 if loops else 0.0)
            table[load] = {}
            for _ in range(repeats):   # interleaved, so that a change of load hits all alike
                for name, counts in configurations.items():
                    table[load].setdefault(name, []).append(seconds_per_step(counts, steps))
            table[load] = {name: statistics.median(values) for name, values in table[load].items()}
        finally:
            for loop in loops:
                loop.kill()
                loop.wait()
    return table


def report(table: dict[str, dict[str, float]], steps: int, repeats: int, load_before: tuple) -> str:
    names = list(next(iter(table.values())))
    lines = ["# Step time under load: one thread, every thread, the default", "",
             __doc__.split("\n\n")[0].replace("\n", " "), "",
             f"- grid {CELLS[0]}×{CELLS[1]}, mean step time of {steps} steps per run, median of "
             f"{repeats} interleaved runs",
             f"- Numba threading layer: {numba.threading_layer()}, NUMBA_NUM_THREADS = "
             f"{numba.config.NUMBA_NUM_THREADS}, cores: {os.cpu_count()}",
             f"- load average before (1/5/15 min): {' / '.join(f'{v:.2f}' for v in load_before)}", "",
             "`every thread` is what every grid of 65,536 cells or more ran on before the thread "
             "count was chosen by timing.", "",
             "| condition | " + " | ".join(names) + " | default / one thread | default / every thread |",
             "|---|" + "---:|" * (len(names) + 2)]
    for load, row in table.items():
        default = row[names[2]]
        lines.append(f"| {load} | " + " | ".join(f"{row[n] * 1e3:.2f} ms" for n in names)
                     + f" | {default / row[names[0]]:.2f} | {default / row[names[1]]:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "THREAD_LOAD.md")
    args = parser.parse_args()
    load_before = os.getloadavg()
    text = report(measure(args.steps, args.repeats), args.steps, args.repeats, load_before)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
