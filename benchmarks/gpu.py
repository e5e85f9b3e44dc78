"""The JAX backend against the Numba backend on two CPU cores, as ratios measured in one run.

On whatever device JAX finds (a GPU when a CUDA jaxlib is installed and one is visible, else
the CPU), the benchmark problem of :mod:`cases` (F = ½|x|², balanced reaction, α = 1, Strang +
SSP-RK2, MC limiter, Δt fixed at the stable step of t = 0):

* ``grid`` rows: one solver step, 2-D and 3-D, with the Gaussian kernel K (width 1, strength
  1, zero-padded FFT);
* ``batch`` row: B independent runs of the 2-D problem with K advanced by one vmapped step
  (:class:`pdesolve.fv.backends.jax.ensemble.Ensemble`), against B Numba steps;
* ``particles`` row: one step of n particles (F = ½|x|², the Gaussian K by particle–mesh on
  the 2-D grid, balanced Algorithm 1 with α = 1, Euler, Δt at half a cell per step; the
  setting of :mod:`particles`): :class:`pdesolve.particles.jax.system.JaxParticleSystem`
  against :class:`pdesolve.particles.ParticleSystem` from the same positions;
* ``bandwidth`` row: the fused step without K on a large 2-D grid, as the bytes the Numba
  step's algorithm must move (17 arrays × 8 B × N, :mod:`roofline`; the JAX step also sums μ
  for the shift, so it moves more) per second, over the device's measured triad bandwidth
  (a = b + s c on arrays far larger than any cache, ten calls per sample).

Numba runs on min(2, cores) threads with SciPy's FFT on as many workers (this project's
2-core reference machine); JAX on what it chooses.  Times are medians over ``--repeats``
runs of ``--steps`` steps, each run closed by one ``stable_dt()`` (its result comes back to
the host, so the device has finished the steps; one V evaluation and a few sums, the same on
both backends); the compile time (the first run's excess over the median run) is reported apart.

    python benchmarks/gpu.py [--quick | --cpu] [--output FILE]

``--quick``: tiny sizes, seconds (the test suite runs it).  ``--cpu``: sizes a 2-core machine
runs in a few minutes.  Default: the GPU sizes of #14 (1024², 256³, 64 × 256², 10⁷
particles on 512², 4096²).
Writes ``benchmarks/JAX.md`` unless ``--output`` says otherwise.
"""
from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

import numba

from cases import gaussian_start, make_problem, make_solver
from timing import load_average, machine_info

HERE = Path(__file__).resolve().parent
NUMBA_THREADS = min(2, os.cpu_count() or 1)
STEP_ARRAYS = 17          # float64 arrays of N cells a Strang + SSP-RK2 step must move
SIZES = {   # name: (2-D cells, 3-D cells, (members, 2-D cells), (particles, 2-D cells),
            #        bandwidth 2-D cells)
    "quick": ((48, 48), (12, 12, 12), (4, (32, 32)), (10_000, (32, 32)), (128, 128)),
    "cpu": ((512, 512), (64, 64, 64), (16, (128, 128)), (1_000_000, (512, 512)), (2048, 2048)),
    "gpu": ((1024, 1024), (256, 256, 256), (64, (256, 256)), (10_000_000, (512, 512)),
            (4096, 4096)),
}
# A Numba step at 256³ with K (a zero-padded 512³ FFT pair, six times) takes about 40 s on two
# cores, and one of 10⁷ particles several seconds: in the GPU mode those rows time one warm-up
# step and one timed step on Numba only.
NUMBA_GPU_STEPS = 1


def seconds_per_step(stepper, steps: int, repeats: int) -> tuple[float, float]:
    """(median seconds per step, compile seconds) of ``stepper`` (a Solver or an Ensemble) at
    its stable Δt of now, over runs of ``steps`` steps each ended by a ``stable_dt()``; the
    compile seconds are the first run's excess over the median run (for JAX: tracing and XLA
    compilation of every variant the runs use)."""
    dt = stepper.stable_dt()

    def run() -> float:
        start = time.perf_counter()
        for _ in range(steps):
            stepper.step(dt)
        stepper.stable_dt()
        return time.perf_counter() - start
    first = run()
    median = statistics.median(run() for _ in range(repeats))
    return median / steps, max(first - median, 0.0)


def triad_bandwidth(values: int, repeats: int, calls: int = 10) -> float:
    """Device bytes per second of a = b + s c on ``values`` float64 values (24 B each), each
    sample ``calls`` calls in a row (a single call would count the dispatch)."""
    import jax
    import jax.numpy as jnp
    b = jnp.ones(values)
    c = jnp.full(values, 2.0)
    triad = jax.jit(lambda x, y: x + 3.0 * y)
    triad(b, c).block_until_ready()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            out = triad(b, c)
        out.block_until_ready()
        samples.append((time.perf_counter() - start) / calls)
    return 24.0 * values / statistics.median(samples)


def grid_row(cells, steps: int, repeats: int, numba_steps: int | None = None) -> dict:
    """Numba and JAX seconds per step of the problem with K on ``cells`` (``numba_steps``:
    one timed run of that many steps on Numba instead)."""
    numba_runs = (steps, repeats) if numba_steps is None else (numba_steps, 1)
    numba_step, _ = seconds_per_step(make_solver(cells, interaction=True, workers=NUMBA_THREADS),
                                     *numba_runs)
    jax_step, first = seconds_per_step(make_solver(cells, interaction=True, backend="jax"),
                                       steps, repeats)
    return {"what": f"{len(cells)}-D step with K", "cells": "×".join(map(str, cells)),
            "numba": numba_step, "jax": jax_step, "first": first}


def batch_row(members: int, cells, steps: int, repeats: int) -> dict:
    """``members`` Numba steps against one vmapped step of ``members`` runs."""
    import numpy as np
    from pdesolve.fv.backends.jax.ensemble import Ensemble
    from pdesolve.model.problem import Scheme
    numba_step, _ = seconds_per_step(make_solver(cells, interaction=True, workers=NUMBA_THREADS),
                                     steps, repeats)
    problem = make_problem(cells, interaction=True)
    starts = np.array([gaussian_start(problem.grid, (shift,) + (0.0,) * (len(cells) - 1))
                       for shift in np.linspace(-1.0, 1.0, members)])
    alphas = np.linspace(0.5, 2.0, members)
    ensemble = Ensemble(problem, Scheme(), starts, alphas)
    jax_step, first = seconds_per_step(ensemble, steps, repeats)
    return {"what": f"{members} runs, one batched step", "cells": f"{members} × " + "×".join(map(str, cells)),
            "numba": members * numba_step, "jax": jax_step, "first": first}


class ParticleStepper:
    """A particle system seen as :func:`seconds_per_step` wants it: ``step(dt)`` and a
    ``stable_dt()`` that waits for the device and returns the system's fixed Δt."""

    def __init__(self, system, dt: float):
        self.system, self.dt = system, dt

    def step(self, dt: float) -> None:
        self.system.step(dt)

    def stable_dt(self) -> float:
        getattr(self.system, "block_until_ready", lambda: None)()
        return self.dt


def particle_row(n: int, cells, steps: int, repeats: int, numba_steps: int | None = None) -> dict:
    """Seconds per step of n particles with the particle–mesh K on ``cells``, Numba and JAX."""
    from particles import SEED, mesh_system
    from pdesolve.particles.jax.system import JaxParticleKernels, JaxParticleSystem
    system, dt = mesh_system(cells, n, NUMBA_THREADS)
    kernels = JaxParticleKernels(system.potential.potential, system.potential.interaction,
                                 system.grid, system.dynamics)
    on_jax = JaxParticleSystem(kernels, system.positions, system.weights, [0, SEED])
    jax_step, first = seconds_per_step(ParticleStepper(on_jax, dt), steps, repeats)
    numba_runs = (steps, repeats) if numba_steps is None else (numba_steps, 1)
    numba_step, _ = seconds_per_step(ParticleStepper(system, dt), *numba_runs)
    return {"what": "particle step (mesh K, Algorithm 1)", "cells": f"{n:,} on " + "×".join(map(str, cells)),
            "numba": numba_step, "jax": jax_step, "first": first}


def bandwidth_row(cells, steps: int, repeats: int, triad: float) -> dict:
    """The fused step without K: bytes it must move per second, over the device triad."""
    numba_step, _ = seconds_per_step(make_solver(cells), steps, repeats)
    jax_step, first = seconds_per_step(make_solver(cells, backend="jax"), steps, repeats)
    cells_total = 1
    for n in cells:
        cells_total *= n
    moved = STEP_ARRAYS * 8.0 * cells_total
    return {"what": "step without K (bandwidth)", "cells": "×".join(map(str, cells)),
            "numba": numba_step, "jax": jax_step, "first": first,
            "bandwidth": moved / jax_step, "fraction": moved / jax_step / triad}


def _report(rows: list[dict], mode: str, device: str, triad: float, started: tuple) -> str:
    import jax
    lines = ["# JAX backend against Numba", "",
             f"Generated by `python benchmarks/gpu.py{'' if mode == 'gpu' else ' --' + mode}` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "", "## Machine", ""]
    info = machine_info()
    info.update({"jax": jax.__version__, "JAX device": device,
                 "Numba threads and SciPy FFT workers": str(NUMBA_THREADS),
                 "load average at start (1/5/15 min)": "%.2f / %.2f / %.2f" % started,
                 "load average at end (1/5/15 min)": "%.2f / %.2f / %.2f" % load_average(),
                 "device triad bandwidth (a = b + s c)": f"{triad / 1e9:.1f} GB/s"})
    lines += [f"- {key}: {value}" for key, value in info.items()]
    lines += ["", "## Steps", "",
              "Medians of seconds per step (per batched step for the batch row, whose Numba "
              "column is the members' steps one after another); speed-up = Numba / JAX.", "",
              "| what | cells | Numba ms | JAX ms | speed-up | JAX compile s | JAX GB/s at the 17-array "
              "minimum | fraction of device triad |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        moved = f"{row['bandwidth'] / 1e9:.1f}" if "bandwidth" in row else ""
        fraction = f"{100 * row['fraction']:.1f}%" if "fraction" in row else ""
        lines.append(f"| {row['what']} | {row['cells']} | {1e3 * row['numba']:.3f} | "
                     f"{1e3 * row['jax']:.3f} | {row['numba'] / row['jax']:.2f} | "
                     f"{row['first']:.2f} | {moved} | {fraction} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", dest="mode", const="quick")
    mode.add_argument("--cpu", action="store_const", dest="mode", const="cpu")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=HERE / "JAX.md")
    args = parser.parse_args(argv)
    mode = args.mode or "gpu"
    started = load_average()
    numba.set_num_threads(NUMBA_THREADS)
    import jax
    importlib.import_module("pdesolve.fv.backends.jax")   # float64 before the first array
    device = f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}"
    two_d, three_d, (members, batch_cells), (n, particle_cells), wide = SIZES[mode]
    steps, repeats = (2, 2) if mode == "quick" else (args.steps, args.repeats)
    triad = triad_bandwidth(1 << (20 if mode == "quick" else 26), repeats)
    rows = []
    for make in (lambda: grid_row(two_d, steps, repeats),
                 lambda: grid_row(three_d, steps, repeats,
                                  NUMBA_GPU_STEPS if mode == "gpu" else None),
                 lambda: batch_row(members, batch_cells, steps, repeats),
                 lambda: particle_row(n, particle_cells, steps, repeats,
                                      NUMBA_GPU_STEPS if mode == "gpu" else None),
                 lambda: bandwidth_row(wide, steps, repeats, triad)):
        rows.append(make())
        print(rows[-1], file=sys.stderr, flush=True)
    args.output.write_text(_report(rows, mode, device, triad, started))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
