"""pdesolve benchmarks: roofline, interaction overhead, scaling, peers, particles.

    python benchmarks/bench.py [--quick] [--output benchmarks/RESULTS.md]

Everything runs in this one process (except the cold-start measurements, which need
a fresh interpreter and Numba cache).  Times are medians over repeats after one
untimed warm-up call; Numba's thread count is set explicitly for every measurement.
``--quick`` uses tiny sizes and one repeat, for the test suite.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numba  # noqa: E402

import interaction_cost  # noqa: E402
import particles  # noqa: E402
import peers  # noqa: E402
import roofline  # noqa: E402
import scaling  # noqa: E402
import threading_sensitivity  # noqa: E402
from cases import make_solver  # noqa: E402
from timing import first_call_seconds, load_average, machine_info  # noqa: E402

SECTIONS = ("## Machine", "## Numba compilation", "## 1. Roofline", "## 2. Interaction overhead",
            "## 3. Scaling", "## 4. Peers", "## 5. Particles", "## Summary against the targets")
THREAD_COUNTS = (1, 2)
PARTICLE_STEP_TARGET_S = 1.0


@dataclass(frozen=True)
class Settings:
    """Sizes and repeat counts of one benchmark run."""

    repeats: int
    stream_values: int
    roofline_cells: tuple[tuple[int, ...], ...]
    profile_cells: tuple[tuple[int, ...], ...]
    sensitivity_cells: tuple[tuple[int, ...], ...]
    interaction_cells: tuple[tuple[int, ...], ...]
    scaling_totals: tuple[int, ...]
    peer_cells: tuple[int, ...]
    cold_start: bool
    particle_repeats: int
    pair_counts: tuple[int, ...]
    mesh_cells: tuple[int, int]
    mesh_counts: tuple[int, ...]
    resample_counts: tuple[int, ...]


FULL = Settings(repeats=7, stream_values=2 ** 26,
                roofline_cells=((10 ** 6,), (512, 512), (128, 128, 128)),
                profile_cells=((512, 512), (128, 128, 128)),
                sensitivity_cells=((512, 512), (128, 128, 128)),
                interaction_cells=((256, 256), (64, 64, 64)),
                scaling_totals=(10 ** 3, 10 ** 4, 10 ** 5, 10 ** 6),
                peer_cells=(128, 256), cold_start=True,
                particle_repeats=3, pair_counts=(1000, 4000, 16000), mesh_cells=(256, 256),
                mesh_counts=(10 ** 4, 10 ** 5, 10 ** 6), resample_counts=(10 ** 4, 10 ** 5, 10 ** 6))
QUICK = Settings(repeats=1, stream_values=2 ** 18,
                 roofline_cells=((10 ** 4,), (32, 32), (12, 12, 12)),
                 profile_cells=((32, 32),),
                 sensitivity_cells=((32, 32),),
                 interaction_cells=((32, 32), (8, 8, 8)),
                 scaling_totals=(10 ** 2, 10 ** 3),
                 peer_cells=(32,), cold_start=False,
                 particle_repeats=1, pair_counts=(256,), mesh_cells=(32, 32),
                 mesh_counts=(10 ** 3, 10 ** 4), resample_counts=(10 ** 3, 10 ** 4))


def shape_name(cells: tuple[int, ...]) -> str:
    return "×".join(str(c) for c in cells) + f" ({len(cells)}-D)"


def table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
    return lines + [""]


def machine_section(settings: Settings, quick: bool) -> list[str]:
    lines = ["## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in machine_info().items()]
    lines += [f"- mode: {'--quick (tiny sizes, 1 repeat: not representative)' if quick else 'full'}",
              f"- repeats per timing: {settings.repeats} (median, after 1 warm-up call)",
              f"- Numba thread counts used: {', '.join(map(str, THREAD_COUNTS))} "
              "(numba.set_num_threads before each measurement)", ""]
    return lines


def compilation_section() -> list[str]:
    """First step in this process (compile, or load from Numba's on-disk cache) vs a warm step."""
    numba.set_num_threads(max(THREAD_COUNTS))
    solver = make_solver((64, 64))
    dt = solver.stable_dt()
    first = first_call_seconds(lambda: solver.step(dt))
    warm = first_call_seconds(lambda: solver.step(dt))
    return ["## Numba compilation", "",
            f"- first `step` in this process: {first * 1e3:.1f} ms (compile, or load of the "
            "`cache=True` kernels from Numba's on-disk cache when present)",
            f"- second `step` (warm): {warm * 1e3:.3f} ms",
            f"- Numba threading layer: {numba.threading_layer()}",
            "- cold start with an empty NUMBA_CACHE_DIR (imports + compile + first step) is "
            "measured in a subprocess in section 4.", ""]


def roofline_section(settings: Settings, summary: list[str]) -> list[str]:
    lines = ["## 1. Roofline", "", roofline.__doc__.strip(), "",
             "Bandwidth (bytes counted as STREAM does: copy 16 B, triad 24 B per value; "
             f"{settings.stream_values} values per array, {24 * settings.stream_values / 2 ** 30:.2f} GiB "
             "per triad, larger than the caches listed under Machine):", ""]
    bounds = {}
    rows = []
    for threads in THREAD_COUNTS:
        roofline.set_threads(threads)
        measured = roofline.bandwidth(settings.stream_values, settings.repeats)
        bounds[threads] = max(measured["numpy triad"], measured["numba parallel triad"])
        rows.append((threads, *(f"{measured[k] / 1e9:.2f}" for k in
                                ("numpy copy", "numpy triad", "numba parallel triad")),
                     f"{bounds[threads] / 1e9:.2f}"))
    lines += table(("threads", "numpy copy GB/s", "numpy triad GB/s", "numba triad GB/s",
                    "bound used (higher triad) GB/s"), rows)
    lines += ["Full step (`solver.step(dt)`, transport + balanced reaction, Strang + SSP-RK2, "
              "no interaction). Fraction = (17 arrays × 8 B × N / step time) / bound, for two "
              "bounds: the memory bound above (triad arrays far larger than any cache), and the "
              "triad on three arrays as large in total as the step's working set (5 arrays of N "
              "values), i.e. the bandwidth of wherever that working set lives. A fraction above "
              "100% of the memory bound means the working set is served from cache; the "
              "same-footprint fraction is the one the target is judged by.", ""]
    rows = []
    for cells in settings.roofline_cells:
        size = math.prod(cells)
        local_bounds = {}
        for threads in THREAD_COUNTS:
            roofline.set_threads(threads)
            local_bounds[threads] = roofline.same_footprint_triad(size, settings.repeats)
        for order in (1, 2):
            for threads in THREAD_COUNTS:
                roofline.set_threads(threads)
                result = roofline.step_throughput(cells, order, settings.repeats)
                local = local_bounds[threads]
                achieved = roofline.MIN_ARRAYS_PER_STEP * roofline.BYTES_PER_VALUE * size / result["seconds"]
                if len(cells) > 1:
                    summary.append(f"- roofline {shape_name(cells)}, order {order}, {threads} thread(s): "
                                   f"{100 * achieved / local:.1f}% of the same-footprint triad, "
                                   f"{100 * achieved / bounds[threads]:.1f}% of the memory triad (target ≥ 50%)")
                rows.append((shape_name(cells), order, threads, f"{result['seconds'] * 1e3:.3f}",
                             f"{result['updates_per_s'] / 1e6:.1f}", f"{achieved / 1e9:.2f}",
                             f"{100 * achieved / bounds[threads]:.1f}%", f"{local / 1e9:.2f}",
                             f"{100 * achieved / local:.1f}%"))
    lines += table(("grid", "order", "threads", "step ms", "Mcell-updates/s", "min-bytes GB/s",
                    "fraction of memory bound", "same-footprint triad GB/s",
                    "fraction of same-footprint bound"), rows)
    lines += ["Per-kernel profile (order 2; medians of single kernel calls on the step's own "
              "arrays; a step calls transport_stage 2×, multiply 2× and scale 2×; the kernels "
              "marked 'when … changes' are not part of a step at fixed Δt with V = F):", ""]
    for cells in settings.profile_cells:
        for threads in THREAD_COUNTS:
            roofline.set_threads(threads)
            profile = roofline.kernel_profile(cells, 2, settings.repeats)
            lines += [f"{shape_name(cells)}, {threads} thread(s):", ""]
            lines += table(("kernel", "ms per call"),
                           [(name, f"{seconds * 1e3:.3f}") for name, seconds in profile.items()])
            lines += profile_reading(profile, cells, bounds[threads]) + [""]
    lines += ["### Threading set-up", "", threading_sensitivity.__doc__.strip().split("\n\nAs a script")[0],
              "", "Order-2 step time, ms (fresh subprocess per set-up):", ""]
    rows = []
    for cells in settings.sensitivity_cells:
        for name, by_threads in threading_sensitivity.step_seconds_by_setup(cells, settings.repeats).items():
            rows.append((shape_name(cells), name, f"{by_threads[1] * 1e3:.3f}", f"{by_threads[2] * 1e3:.3f}",
                         f"{by_threads[1] / by_threads[2]:.2f}"))
    lines += table(("grid", "set-up", "1 thread ms", "2 threads ms", "speed-up"), rows)
    return lines


def profile_reading(profile: dict[str, float], cells: tuple[int, ...], bound: float) -> list[str]:
    """Share of the step per kernel group, and each kernel's own bytes / time against the bound
    (transport_stage: 3.5 arrays on average over the two stages; multiply: 3; scale: 2)."""
    size = math.prod(cells)
    step = profile["step() total"]
    transport = 2 * profile["transport_stage"]
    reaction = 2 * (profile["multiply"] + profile["scale"])
    stage_rate = 3.5 * 8 * size / profile["transport_stage"]
    multiply_rate = 3 * 8 * size / max(profile["multiply"], 1e-12)
    return [f"- transport_stage ×2: {100 * transport / step:.0f}% of the step, moving its own bytes "
            f"at {stage_rate / 1e9:.2f} GB/s = {100 * stage_rate / bound:.0f}% of the bound "
            f"({1e9 * profile['transport_stage'] / size:.1f} ns per cell per stage)",
            f"- reaction kernels ×2: {100 * reaction / step:.0f}% of the step; multiply "
            f"alone runs at {multiply_rate / 1e9:.2f} GB/s = {100 * multiply_rate / bound:.0f}% of the bound",
            f"- glue: {100 * profile['python/numpy glue (step − sum)'] / step:.0f}% of the step"]


def interaction_section(settings: Settings, summary: list[str]) -> list[str]:
    evaluations, with_stable_dt = interaction_cost.evaluations_per_step(settings.interaction_cells[0])
    lines = ["## 2. Interaction overhead", "",
             f"One Strang + SSP-RK2 `step` evaluates V = F + K ⋆ μ {evaluations} times when called "
             f"alone, and `stable_dt` + `step` (what `Solver.advance` does per step) {with_stable_dt} "
             "times (counted by wrapping the interaction's `potential`). From solver.py: reaction "
             "half-step (V stale after the previous step; fresh if `stable_dt` just computed it), "
             "SSP stage 1 (V stale after the reaction), SSP stage 2, reaction half-step (V stale "
             f"after transport). The timed loop below calls `step` alone, so the ratio uses {evaluations}.", "",
             "Gaussian kernel K(x) = exp(−|x|²/2), no-flux box (zero-padded FFT). Numba threads "
             "= scipy.fft workers in each row. Ratios: potential / bare pair; step / "
             "(evaluations × bare pair), target ≤ 1.3.", ""]
    rows = []
    best = {}
    for cells in settings.interaction_cells:
        for workers in THREAD_COUNTS:
            roofline.set_threads(workers)
            r = interaction_cost.interaction_overhead(cells, workers, settings.repeats)
            rows.append((shape_name(cells), "×".join(map(str, r["padded"])), workers,
                         f"{r['fft_pair_s'] * 1e3:.3f}", f"{r['potential_s'] * 1e3:.3f}",
                         f"{r['potential_ratio']:.2f}", f"{r['step_s'] * 1e3:.3f}",
                         r["evaluations"], f"{r['step_ratio']:.2f}"))
            summary.append(f"- interaction {shape_name(cells)}, workers {workers}: step / (evals × pair) "
                           f"= {r['step_ratio']:.2f} (target ≤ 1.3); potential / pair = {r['potential_ratio']:.2f}")
            key = shape_name(cells)
            if key not in best or r["step_s"] < best[key][1]:
                best[key] = (workers, r["step_s"])
    lines += table(("grid", "padded", "workers", "bare rfftn+irfftn ms", "potential() ms",
                    "potential / pair", "step ms", "V evals/step", "step / (evals × pair)"), rows)
    lines += [f"- fastest step on {key}: workers = {w}" for key, (w, _) in best.items()] + [""]
    return lines


def scaling_section(settings: Settings) -> list[str]:
    lines = ["## 3. Scaling", "",
             "Median `step` time (order 2) against cell count; exponent p of a least-squares "
             "fit time ∝ cells^p over the sizes listed.", ""]
    rows = []
    fits = []
    for ndim in (1, 2, 3):
        for interaction in (False, True):
            for threads in THREAD_COUNTS:
                roofline.set_threads(threads)
                series = scaling.scaling_series(ndim, list(settings.scaling_totals), interaction,
                                                settings.repeats, threads)
                sizes = [size for _, size, _ in series]
                seconds = [s for _, _, s in series]
                for cells, size, s in series:
                    rows.append((ndim, "yes" if interaction else "no", threads,
                                 "×".join(map(str, cells)), size, f"{s * 1e3:.3f}",
                                 f"{s / size * 1e9:.1f}"))
                fits.append((ndim, "yes" if interaction else "no", threads,
                             f"{scaling.fitted_exponent(sizes, seconds):.2f}",
                             f"{sizes[0]}–{sizes[-1]}"))
    lines += table(("dim", "interaction", "threads", "cells per axis", "cells", "step ms",
                    "ns per cell"), rows)
    lines += ["Fitted exponents:", ""]
    lines += table(("dim", "interaction", "threads", "exponent p", "cell range"), fits)
    return lines


def peers_section(settings: Settings, summary: list[str]) -> list[str]:
    lines = ["## 4. Peers", "", peers.__doc__.strip().split("\n\nRun as a script")[0], ""]
    codes = [("pdesolve", peers.run_pdesolve)]
    for code, version, runner in (("py-pde", peers.pypde_available(), peers.run_pypde),
                                  ("fipy", peers.fipy_available(), peers.run_fipy)):
        if version is None:
            lines.append(f"- {code}: not importable in this environment, so not compared "
                         "(`pip install -e .[bench]` installs it).")
        else:
            lines.append(f"- {code} {version} importable.")
            codes.append((code, runner))
    if len(codes) == 1:
        return lines + [""]
    lines += ["- pdesolve uses order 2 (MC limiter); py-pde its explicit Euler stepper; FiPy the "
              "set-up above. All take the same steps.", ""]
    roofline.set_threads(1)
    lines += ["Numba threads: 1 for every code, in process and in the cold subprocesses "
              "(NUMBA_NUM_THREADS=1), so the comparison does not depend on the threading set-up "
              "of section 1 (FiPy uses no Numba; its sparse assembly and scipy solver run on one "
              "thread).", ""]
    results = []
    for n in settings.peer_cells:
        for code, runner in codes:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = runner(n)
            starts = peers.start_to_first_step(code, n) if settings.cold_start else None
            results.append((code, n, r, starts))
    rows = [(code, f"{n}²", r["steps"], f"{r['first_step_s']:.3f}",
             *(("skipped (--quick)",) * 2 if starts is None else (f"{starts[0]:.2f}", f"{starts[1]:.2f}")),
             f"{r['step_s'] * 1e3:.3f}", f"{r['total_s']:.3f}", f"{r['l1']:.3e}")
            for code, n, r, starts in results]
    lines += table(("code", "grid", "steps", "first step in this process s",
                    "cold start s (fresh process, empty NUMBA_CACHE_DIR)",
                    "warm start s (fresh process, filled cache)", "ms per step",
                    "total to t_end s", "L¹ error at t_end"), rows)
    lines += ["py-pde's numba backend parallelises its operators from "
              "`backend.numba.multithreading_threshold` = 256² grid points (its default); with one "
              "Numba thread that parallel code runs on one thread.", "",
              "'first step in this process' for pdesolve is solver construction + one step with "
              "kernels already compiled; for py-pde it includes building its stepper, which "
              "compiles the right-hand side again for every new stepper; for FiPy it is building "
              "the mesh, variables and equation + one step (FiPy compiles nothing).", ""]
    for n in settings.peer_cells:
        mine = next(r for c, m, r, _ in results if c == "pdesolve" and m == n)
        for code, _ in codes[1:]:
            theirs = next(r for c, m, r, _ in results if c == code and m == n)
            lines.append(f"- {n}²: time per step {code} / pdesolve = {theirs['step_s'] / mine['step_s']:.2f}; "
                         f"L¹ error {code} / pdesolve = {theirs['l1'] / mine['l1']:.2f}")
    target = max(r["l1"] for c, _, r, _ in results if c == "pdesolve")
    lines += ["", f"Time to reach L¹ error ≤ {target:.3e} (the largest pdesolve error above), "
              "cheapest run of each code (stepping time, compile excluded):", ""]
    time_to_target = {}
    for code, _ in codes:
        reached = [(r["step_s"] * r["steps"], n) for c, n, r, _ in results
                   if c == code and r["l1"] <= target]
        if reached:
            time_to_target[code] = min(reached)[0]
        lines.append(f"- {code}: " + (f"{min(reached)[0]:.3f} s on {min(reached)[1]}²" if reached
                                      else "not reached on the grids run"))
    for code, _ in codes[1:]:
        summary.append(f"- time to L¹ ≤ {target:.2e}, {code} / pdesolve: "
                       + (f"{time_to_target[code] / time_to_target['pdesolve']:.1f}×" if code in time_to_target
                          else f"{code} does not reach it on the grids run")
                       + (" (target ≥ 3×)" if code == "py-pde" else " (no target)"))
    for code, n, _, starts in results:
        if starts is not None:
            summary.append(f"- warm start (fresh process, filled Numba cache, to the end of the first "
                           f"step), {code} {n}²: {starts[1]:.2f} s"
                           + (" (target ≤ 2 s)" if code == "pdesolve" else ""))
    return lines + [""]


def particles_section(settings: Settings, summary: list[str]) -> list[str]:
    intro = particles.__doc__.strip().split("\n\n", 1)[1]
    lines = ["## 5. Particles", "", intro, "",
             f"Each time is the median of {settings.particle_repeats} call(s) after 1 warm-up call.", ""]
    lines += pair_sum_lines(settings, summary)
    lines += mesh_lines(settings, summary)
    lines += resampling_lines(settings)
    return lines


def pair_sum_lines(settings: Settings, summary: list[str]) -> list[str]:
    lines = ["### Direct pair sum", "",
             "Rates in millions of pair interactions (or exps) per second, n² per call; "
             "Numba threads as listed for all three kernels.", ""]
    rows = []
    for n in settings.pair_counts:
        for threads in THREAD_COUNTS:
            r = particles.direct_sum(n, threads, settings.particle_repeats)
            rows.append((n, threads, f"{r['library_s'] * 1e3:.2f}", f"{r['library_rate'] / 1e6:.1f}",
                         f"{1e9 / r['library_rate']:.2f}", f"{r['reference_rate'] / 1e6:.1f}",
                         f"{r['exp_rate'] / 1e6:.1f}", f"{1e9 / r['exp_rate']:.2f}",
                         f"{r['library_rate'] / r['exp_rate']:.2f}",
                         f"{r['reference_rate'] / r['exp_rate']:.2f}"))
            if n == settings.pair_counts[-1]:
                summary.append(f"- direct pair sum, n = {n}, {threads} thread(s): "
                               f"{r['library_rate'] / 1e6:.1f} Mpairs/s = {r['library_rate'] / r['exp_rate']:.2f}× "
                               f"the exp throughput (target: close to 1); the 2-D Gaussian reference "
                               f"reaches {r['reference_rate'] / r['exp_rate']:.2f}×")
                last = r
    lines += table(("n", "threads", "DirectInteraction ms", "Mpairs/s", "ns/pair",
                    "2-D reference Mpairs/s", "exp sweep Mexp/s", "ns/exp", "library / exp",
                    "reference / exp"), rows)
    lines += [f"- At n = {settings.pair_counts[-1]} ({THREAD_COUNTS[-1]} threads) a pair costs "
              f"{1e9 / last['library_rate']:.2f} ns in the library kernel, "
              f"{1e9 / last['reference_rate']:.2f} ns in the 2-D reference and one exp "
              f"{1e9 / last['exp_rate']:.2f} ns: the reference is the exp plus "
              f"{1e9 / last['reference_rate'] - 1e9 / last['exp_rate']:.2f} ns of arithmetic; the "
              f"library's extra {1e9 / last['library_rate'] - 1e9 / last['reference_rate']:.2f} ns "
              "is the general kernel (kernel-kind dispatch and minimum-image test per pair, each "
              "displacement computed twice through a helper that takes the position and period "
              "arrays, the gradient accumulated in the output array).",
              f"- Numba SVML in use: {'yes' if numba.config.USING_SVML else 'no'}; the three kernels "
              "sum sequentially (no fastmath), so their loops are not vectorised and exp is one "
              "scalar call per pair.", ""]
    return lines


def mesh_lines(settings: Settings, summary: list[str]) -> list[str]:
    cells = settings.mesh_cells
    lines = [f"### Particle–mesh on {shape_name(cells)}", "",
             "Numba threads = scipy.fft workers = the thread count listed. ns/particle = time / n.", ""]
    rows = []
    series = {}
    for threads in THREAD_COUNTS:
        for n in settings.mesh_counts:
            r = particles.mesh_step(cells, n, threads, settings.particle_repeats)
            series.setdefault(threads, []).append((n, r))
            rows.append((n, threads, f"{r['evaluate_s'] * 1e3:.2f}", f"{r['evaluate_s'] / n * 1e9:.0f}",
                         f"{r['step_s'] * 1e3:.2f}", f"{r['step_s'] / n * 1e9:.0f}", f"{r['dt']:.2e}"))
    lines += table(("n", "threads", "MeshInteraction.evaluate ms", "ns/particle",
                    "ParticleSystem.step ms", "ns/particle", "Δt"), rows)
    fits = []
    for threads, points in series.items():
        counts = [n for n, _ in points]
        for key, name in (("evaluate_s", "MeshInteraction.evaluate"), ("step_s", "ParticleSystem.step")):
            seconds = [r[key] for _, r in points]
            marginal = (seconds[-1] - seconds[-2]) / (counts[-1] - counts[-2])
            fits.append((name, threads, f"{scaling.fitted_exponent(counts, seconds):.2f}",
                         f"{scaling.fitted_exponent(counts[-2:], seconds[-2:]):.2f}",
                         f"{marginal * 1e9:.0f}", f"{counts[0]}–{counts[-1]}"))
        steps = [r["step_s"] for _, r in points]
        summary.append(f"- particle–mesh linearity, {threads} thread(s): step time ∝ n^p with "
                       f"p = {scaling.fitted_exponent(counts, steps):.2f} over n = {counts[0]}–{counts[-1]}, "
                       f"{scaling.fitted_exponent(counts[-2:], steps[-2:]):.2f} between the last two n "
                       "(target: O(n), p ≤ 1)")
    lines += ["Fitted exponent p of time ∝ n^p (least squares over all n; and over the last two n, "
              "where the fixed grid cost matters least), and the marginal cost between the last two n:", ""]
    lines += table(("quantity", "threads", "p (all n)", "p (last two n)", "marginal ns/particle", "n range"),
                   fits)
    n_top = settings.mesh_counts[-1]
    top = series[max(THREAD_COUNTS)][-1][1]["step_s"]
    verdict = ("met" if top < PARTICLE_STEP_TARGET_S else
               f"missed by {top / PARTICLE_STEP_TARGET_S:.2f}× ({top - PARTICLE_STEP_TARGET_S:.2f} s over)")
    summary.append(f"- particle–mesh step, n = {n_top} on {shape_name(cells)}, {max(THREAD_COUNTS)} threads: "
                   f"{top:.3f} s per step (target < {PARTICLE_STEP_TARGET_S:.0f} s for 10⁶ on 256²): {verdict}")
    lines += [f"n = {n_top} on {shape_name(cells)} with {max(THREAD_COUNTS)} threads: {top:.3f} s per step, "
              f"target < {PARTICLE_STEP_TARGET_S:.0f} s (for 10⁶ particles on 256²): {verdict}.", ""]
    lines += mesh_profile_lines(settings)
    return lines


def mesh_profile_lines(settings: Settings) -> list[str]:
    cells, n = settings.mesh_cells, settings.mesh_counts[-1]
    serial = [kernel.__name__ for kernel in (particles.cic_deposit, particles.cic_interpolate)
              if not kernel.targetoptions.get("parallel", False)]
    lines = [f"Profile of one step at n = {n}: each part timed alone on the step's own arrays "
             "(see `particles.mesh_step_profile`):", ""]
    for threads in THREAD_COUNTS:
        parts, kernels = particles.mesh_step_profile(cells, n, threads, settings.particle_repeats)
        step = parts["step() total"]
        lines += [f"{threads} thread(s):", ""]
        lines += table(("part", "ms per step", "share of step"),
                       [(name, f"{seconds * 1e3:.2f}", f"{100 * seconds / step:.0f}%")
                        for name, seconds in parts.items()])
        lines += table(("kernel", "library ns/particle", "2-D reference ns/particle", "library / reference"),
                       [(name, f"{lib / n * 1e9:.1f}", f"{ref / n * 1e9:.1f}", f"{lib / ref:.1f}")
                        for name, (lib, ref) in kernels.items()])
        named = {k: v for k, v in parts.items() if "×2" in k or k.startswith(("move", "birth"))}
        largest = max(named, key=named.get)
        in_step = {"deposit": parts["deposit (cloud-in-cell) ×2"],
                   "interpolation": parts["interpolation of V, ∂x V, ∂y V (one fused pass) ×2"]}
        with_references = step - sum(in_step[name] * (1 - ref / lib) for name, (lib, ref) in kernels.items())
        lines += [f"- largest part: {largest}, {100 * named[largest] / step:.0f}% of the step; with the "
                  f"deposit and interpolation parts scaled by the reference / library ratios above, the "
                  f"step would take about {with_references * 1e3:.1f} ms.", ""]
    if serial:
        lines += [f"- {', '.join(serial)} are serial Numba kernels (no `parallel=True`), and the "
                  "numpy parts run on one thread: a second thread only speeds up the FFT.", ""]
    return lines


def resampling_lines(settings: Settings) -> list[str]:
    lines = ["### Birth–death resampling", "",
             "numpy on one thread (no Numba kernel; Numba threads set to 1). Rates of the "
             f"particle–mesh system above on {shape_name(settings.mesh_cells)} at its Δt; ns per "
             "particle = time / n.", ""]
    rows = []
    numba.set_num_threads(1)
    for n in settings.resample_counts:
        r = particles.resampling(settings.mesh_cells, n, settings.particle_repeats)
        total = r["offspring_s"] + r["restore_s"]
        rows.append((n, f"{r['events_per_particle']:.4f}", f"{r['offspring_s'] / n * 1e9:.1f}",
                     f"{r['restore_s'] / n * 1e9:.1f}", f"{total / n * 1e9:.1f}",
                     f"{r['gather_s'] / n * 1e9:.1f}"))
    lines += table(("n", "kill/clone events per particle", "offspring_counts ns/particle",
                    "restore_population ns/particle", "sum ns/particle", "gather θ[kept] ns/particle"),
                   rows)
    return lines


def run(settings: Settings, quick: bool) -> str:
    start = time.perf_counter()
    lines = ["# pdesolve benchmarks", "",
             f"Generated by `python benchmarks/bench.py{' --quick' if quick else ''}` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", ""]
    lines += machine_section(settings, quick)
    lines += compilation_section()
    summary = ["## Summary against the targets", ""]
    lines += roofline_section(settings, summary)
    lines += interaction_section(settings, summary)
    lines += scaling_section(settings)
    lines += peers_section(settings, summary)
    lines += particles_section(settings, summary)
    lines += summary + [""]
    lines += [f"Total benchmark wall time: {time.perf_counter() - start:.0f} s; load average at "
              "end (1/5/15 min): %.2f / %.2f / %.2f." % load_average(), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                         "RESULTS.md"))
    args = parser.parse_args(argv)
    report = run(QUICK if args.quick else FULL, args.quick)
    with open(args.output, "w") as handle:
        handle.write(report)
    print(report)


if __name__ == "__main__":
    main()
