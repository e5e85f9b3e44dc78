"""Step time under different Numba threading set-ups, each in a fresh subprocess.

The OpenMP layer's default wait policy lets idle threads spin at barriers.  With
two cores shared with other processes, that is the suspected reason why two threads
can be no faster, or far slower, than one; this table tests it.  OMP_WAIT_POLICY and
NUMBA_THREADING_LAYER must be set before the threading layer starts, hence the
subprocesses.

As a script: ``python threading_sensitivity.py REPEATS N1 [N2 [N3]]`` prints
``threads layer seconds`` lines for 1 and 2 threads, order 2.
"""
from __future__ import annotations

import os
import subprocess
import sys

SETUPS = {
    "omp, default wait policy": {},
    "omp, OMP_WAIT_POLICY=passive": {"NUMBA_THREADING_LAYER": "omp", "OMP_WAIT_POLICY": "passive"},
    "workqueue": {"NUMBA_THREADING_LAYER": "workqueue"},
}


def step_seconds_by_setup(cells: tuple[int, ...], repeats: int) -> dict[str, dict[int, float]]:
    """{setup: {threads: median step seconds}} for the benchmark problem on ``cells``."""
    here = os.path.dirname(os.path.abspath(__file__))
    results = {}
    for name, extra in SETUPS.items():
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")}
        env.update(extra)
        out = subprocess.run([sys.executable, os.path.join(here, "threading_sensitivity.py"),
                              str(repeats), *map(str, cells)],
                             env=env, capture_output=True, text=True, check=True).stdout
        results[name] = {int(t): float(s) for t, _, s in (line.split() for line in out.splitlines())}
    return results


def _main(repeats: int, cells: tuple[int, ...]) -> None:
    import numba

    import roofline
    for threads in (1, 2):
        roofline.set_threads(threads)
        seconds = roofline.step_throughput(cells, 2, repeats)["seconds"]
        print(threads, numba.threading_layer(), seconds)


if __name__ == "__main__":
    _main(int(sys.argv[1]), tuple(int(n) for n in sys.argv[2:]))
