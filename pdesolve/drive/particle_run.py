"""Run the particle method on a case: independent replicates, observables at output times,
in memory (:func:`run_particles`) or into a checkpointed HDF5 file (:func:`run_particles_file`,
:func:`resume_particles_file`; the ``pdesolve particles`` command).

Replicate r is a function of (case, n, seed, r, output times, Δt) only: it draws everything
from the r-th child of ``SeedSequence(seed)``, and output interval k is cut into
⌈(t_k − t_{k−1})/Δt⌉ equal steps whatever happens around it.  So results do not depend on
how replicates are scheduled, nor on interruptions.

Scheduling.  ``workers = 1`` runs the replicates one after another in this process;
``workers > 1`` hands them to a pool of spawned processes (concurrent.futures, kept for
later calls), at most ``workers`` at a time.  The unit of work is a *segment*: one
replicate advanced from its state (a :class:`~pdesolve.io.particle_result.ReplicateCheckpoint`:
positions, weights, numpy ``bit_generator.state``, time, step count, outputs written) to
its end, or, for file runs, to its next output time (or until [output] checkpoint_steps /
checkpoint_seconds are due).

Checkpoints (file runs).  After each segment the parent writes the segment's output rows,
then the replicate's state (or, when it is done, marks it finished).  On SIGINT/SIGTERM the
parent stops handing out segments and raises a stop flag that each running replicate reads
after every step: it finishes that step and returns its state, the parent checkpoints it,
marks the file interrupted and raises :class:`~pdesolve.drive.signals.RunInterrupted`.  A resumed run
continues each checkpointed replicate from its state and starts the others from their seeds,
so the file ends bit for bit as an uninterrupted run's.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, CancelledError, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

import numpy as np
from tqdm import tqdm

from ..model.build import Setup, build_setup
from ..config.case import Case, CaseError, check_same_run
from .observers import Cadence, Observer, notify
from .resources import address_space_left, gib, machine_memory, particle_memory
from .signals import RunInterrupted, stop_on_signals
from ..particles.interaction import particle_interaction
from ..particles.observables import energy, histogram, moments
from ..io.particle_result import ParticleWriter, ReplicateCheckpoint
from ..particles.potential import ParticlePotential
from ..model.initial import initial_density_from_spec
from ..particles.sampling import sample_density_spec
from ..particles.system import ParticleDynamics, ParticleSystem, default_time_step

Row = dict[str, np.ndarray | float]


def interval_steps(times: np.ndarray, k: int, step: float) -> int:
    """Steps from t_{k−1} (0 for k = 0) to t_k: 0 if they coincide, else ⌈(t_k − t_{k−1})/Δt⌉."""
    span = times[k] - (times[k - 1] if k else 0.0)
    return max(1, math.ceil(span / step * (1 - 1e-12))) if span > 0 else 0


def largest_step(times: np.ndarray, step: float) -> float:
    """The largest step (t_k − t_{k−1}) / steps_k a replicate with step bound Δt takes."""
    spans = [(times[k] - (times[k - 1] if k else 0.0), interval_steps(times, k, step))
             for k in range(times.size)]
    return max((span / count for span, count in spans if count), default=0.0)


@dataclass(frozen=True)
class ParticlePlan:
    """What a particle run computes: replicate r depends on these and on r only."""

    case: Case
    n: int
    seed: int
    replicates: int
    times: np.ndarray
    dt: float | None = None          # step bound; None: time.dt, else default_time_step
    weighted: bool = False
    method: str = "auto"
    keep_positions: bool = False
    token: str = field(default_factory=lambda: uuid4().hex, compare=False)


def make_plan(case: Case, *, n: int | None = None, seed: int | None = None, times=None,
              replicates: int | None = None, dt: float | None = None, weighted: bool = False,
              method: str | None = None, keep_positions: bool = False) -> tuple[ParticlePlan, Setup]:
    """The plan of a run of ``case`` (unset values from its [particles] table and output
    times) and the case's grid setup; CaseError for a case the particles cannot run."""
    setup = build_setup(case)
    spec = case.particles
    times = setup.output_times if times is None else np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0 or times[0] < 0 or np.any(np.diff(times) <= 0):
        raise ValueError("times must be a non-empty, non-negative, increasing sequence")
    plan = ParticlePlan(case=case, n=int(spec.n if n is None else n),
                        seed=int(spec.seed if seed is None else seed),
                        replicates=int(spec.replicates if replicates is None else replicates),
                        times=times, dt=dt, weighted=weighted,
                        method=spec.interaction if method is None else method,
                        keep_positions=keep_positions)
    try:
        particle_interaction(setup.problem.interaction, plan.method, plan.n)
    except (TypeError, ValueError) as err:
        raise CaseError(str(case.path), "particles.interaction", str(err)) from None
    return plan, setup


def check_memory(plan: ParticlePlan, workers: int | None, held: int) -> None:
    """Refuse (CaseError at [particles]) a plan whose estimated peak memory, with ``workers``
    replicates in flight (None: the default) and the observables of ``held`` replicates kept,
    exceeds what this process may allocate."""
    workers = default_workers(plan.replicates) if workers is None else workers
    total, largest = particle_memory(plan.case, n=plan.n, replicates=plan.replicates, workers=workers,
                                     outputs=plan.times.size, keep_positions=plan.keep_positions,
                                     held=held)
    what = (f"{plan.replicates} replicate{'s' if plan.replicates != 1 else ''} of n = {plan.n} particles "
            f"({min(workers, plan.replicates)} at a time)")
    machine, address = machine_memory(), address_space_left()
    if total > machine:
        raise CaseError(str(plan.case.path), "particles",
                        f"{what} need about {gib(total)} of memory, {gib(machine)} is available",
                        "fewer particles (--n), replicates or workers")
    if largest > address:
        raise CaseError(str(plan.case.path), "particles",
                        f"{what}: one process needs about {gib(largest)}, ulimit -v leaves {gib(address)}",
                        "fewer particles (--n), replicates or workers")


class ReplicateRunner:
    """Starts and advances the replicates of one plan (built once per process)."""

    def __init__(self, plan: ParticlePlan, setup: Setup | None = None):
        case = plan.case
        setup = build_setup(case) if setup is None else setup
        problem = setup.problem
        self.plan = plan
        self.grid = setup.grid
        self.dynamics = ParticleDynamics(reaction=problem.reaction, alpha=problem.alpha,
                                         tau=problem.tau, transport=problem.transport,
                                         integrator=case.particles.integrator)
        self.interaction = particle_interaction(problem.interaction, plan.method, plan.n)
        self.jax = setup.scheme.backend == "jax"
        self._kernels = None
        self.external = setup.potential
        self.potential = ParticlePotential(setup.potential, self.interaction, plan.n)
        self.initial = case.initial
        self.mu0 = setup.mu0
        self.prior = case.dynamics.prior
        # μ_b on the grid as its spec describes it (not problem.prior, which is normalised:
        # the draws would change in the last bits), built once instead of at every refill.
        self.prior_density = (None if self.prior is None or self.prior.kind == "gaussian"
                              else initial_density_from_spec(self.prior, self.grid))
        self.step_bound = plan.dt if plan.dt is not None else setup.scheme.dt
        self.cfl = setup.scheme.cfl

    def _sample_prior(self, k: int, rng: np.random.Generator) -> np.ndarray:
        return sample_density_spec(self.prior, self.grid, k, rng, self.prior_density)

    def _system(self, positions: np.ndarray, weights: np.ndarray | None, rng_state: dict):
        """The replicate's system at ``positions`` (``weights`` None: M/n each), its random
        state from ``rng_state`` (numpy's, or a JAX key on the jax backend)."""
        if self.jax:
            from ..particles.jax.system import JaxParticleSystem
            if weights is None:
                weights = np.full(positions.shape[0], self.initial["mass"] / positions.shape[0])
            return JaxParticleSystem(self._jax_kernels(), positions, weights, rng_state["key"])
        rng = np.random.Generator(getattr(np.random, rng_state["bit_generator"])())
        rng.bit_generator.state = rng_state
        system = ParticleSystem(positions, self.initial["mass"], self.potential,
                                self.grid, self.dynamics, rng, weighted=self.plan.weighted,
                                sample_prior=self._sample_prior if self.prior else None)
        if weights is not None:
            system.weights[:] = weights
        return system

    def _jax_kernels(self):
        """The compiled JAX particle step of this plan, built on first use."""
        if self._kernels is None:
            from ..particles.jax.system import JaxParticleKernels
            self._kernels = JaxParticleKernels(self.external, self.interaction, self.grid,
                                               self.dynamics, weighted=self.plan.weighted,
                                               prior=self.prior, prior_density=self.prior_density)
        return self._kernels

    def start(self, r: int) -> ReplicateCheckpoint:
        """Replicate r at t = 0: n draws from μ₀ with the r-th child of SeedSequence(seed);
        the JAX backend's key from that child's own first child."""
        sequence = np.random.SeedSequence(self.plan.seed, spawn_key=(r,))
        rng = np.random.default_rng(sequence)
        positions = sample_density_spec(self.initial, self.grid, self.plan.n, rng, self.mu0)
        if self.jax:
            from ..particles.jax.system import RNG_NAME, key_from_seed
            child = np.random.SeedSequence(self.plan.seed, spawn_key=(r, 0))
            rng_state = {"bit_generator": RNG_NAME, "key": key_from_seed(child.generate_state(2))}
        else:
            rng_state = rng.bit_generator.state
        system = self._system(positions, None, rng_state)
        step = (self.step_bound if self.step_bound is not None
                else default_time_step(system, self.cfl, float(self.plan.times[-1])))
        return ReplicateCheckpoint(replicate=r, positions=system.positions, weights=system.weights,
                                   rng_state=system.rng_state(), step=float(step))

    def observe(self, system: ParticleSystem) -> Row:
        """Mass, mean, covariance, energy, grid histogram (and positions if kept) of μⁿ."""
        system.evaluate()
        mass, mean, cov = moments(system.positions, system.weights)
        interaction_values = system.interaction_values
        row = {"mass": mass, "mean": mean, "covariance": cov,
               "energy": energy(system.weights, system.values - interaction_values, interaction_values),
               "histogram": histogram(system.positions, system.weights, self.grid)}
        if self.plan.keep_positions:
            row["positions"] = system.positions.copy()
        return row

    def advance(self, state: ReplicateCheckpoint, stop: Callable[[], bool], *, segmented: bool,
                checkpoint_steps: int = 0, checkpoint_seconds: float = 0.0) -> list[tuple[int, Row]]:
        """Advance ``state`` in place; return the (k, row) outputs reached.

        Runs to the last output time, or returns early when ``stop()`` is true (before the
        first step, or after any step), or, if ``segmented``, after each output and when
        ``checkpoint_steps`` steps (counted from t = 0) or ``checkpoint_seconds`` of wall time
        are due (0 disables either).  The checks after a step are observers, as in the grid
        driver (:mod:`pdesolve.drive.observers`).
        """
        rows = []
        if stop():
            return rows
        pauses = []
        observers = [Observer(lambda s, dt: pauses.append("stop") if stop() else None)]
        if segmented:
            observers.append(Observer(lambda s, dt: pauses.append("checkpoint"),
                                      Cadence(checkpoint_steps, checkpoint_seconds)))
        system = self._system(state.positions, state.weights, state.rng_state)
        times = self.plan.times
        while state.next_output < times.size:
            k = state.next_output
            count = interval_steps(times, k, state.step)
            origin = times[k - 1] if k else 0.0
            dt = (times[k] - origin) / count if count else 0.0
            while state.substep < count and not pauses:
                system.step(dt, state.t)
                state.substep += 1
                state.steps += 1
                state.t = origin + state.substep * dt
                notify(observers, state, state.steps, dt)
            pause = bool(pauses)
            if state.substep == count:
                rows.append((k, self.observe(system)))
                state.next_output, state.substep, state.t = k + 1, 0, float(times[k])
                pause = pause or segmented
            if pause:
                break
        state.positions, state.weights = system.positions, system.weights
        state.rng_state = system.rng_state()
        return rows


# ---------------------------------------------------------------------------------------------
# Worker processes
# ---------------------------------------------------------------------------------------------

_WORKER: dict = {}
STOP_POLL_SECONDS = 0.5    # how often a segment on Dask asks the scheduler whether to stop


def _init_worker(stop_event, threads: int, parent: int) -> None:
    """Worker setup: signals are the parent's business (it asks the worker to stop through
    ``stop_event``); Numba threads shared out; exit if the parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import numba
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    _WORKER["stop"] = stop_event

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch_parent, daemon=True).start()


def _worker_segment(plan: ParticlePlan, r: int, state: ReplicateCheckpoint | None,
                    options: dict) -> tuple[ReplicateCheckpoint, list[tuple[int, Row]]]:
    """Run one segment of replicate r in a worker (``state`` None: start it): the new
    state and the segment's output rows."""
    if _WORKER.get("token") != plan.token:
        _WORKER["runner"] = ReplicateRunner(plan)
        _WORKER["token"] = plan.token
    runner = _WORKER["runner"]
    state = runner.start(r) if state is None else state
    return state, runner.advance(state, _WORKER["stop"].is_set, **options)


_DASK_RUNNERS = threading.local()    # a Dask worker may run segments in several threads


def _dask_segment(plan: ParticlePlan, r: int, state: ReplicateCheckpoint | None, options: dict,
                  stop_event: str) -> tuple[ReplicateCheckpoint, list[tuple[int, Row]]]:
    """:func:`_worker_segment` as a Dask task: the stop flag is the Dask event
    ``stop_event``, asked at most every STOP_POLL_SECONDS."""
    from distributed import Event

    if getattr(_DASK_RUNNERS, "token", None) != plan.token:
        _DASK_RUNNERS.runner, _DASK_RUNNERS.token = ReplicateRunner(plan), plan.token
    runner = _DASK_RUNNERS.runner
    event = Event(stop_event)
    asked = {"next": 0.0, "set": False}

    def stop() -> bool:
        now = time.monotonic()
        if not asked["set"] and now >= asked["next"]:
            asked["next"], asked["set"] = now + STOP_POLL_SECONDS, event.is_set()
        return asked["set"]

    state = runner.start(r) if state is None else state
    return state, runner.advance(state, stop, **options)


class ProcessPool:
    """Replicate segments on ``workers`` spawned processes of this machine, and their stop
    event; one pool per size, kept for later runs (see :func:`process_pool`)."""

    def __init__(self, workers: int):
        context = multiprocessing.get_context("spawn")
        self.slots = workers
        self._event = context.Event()
        threads = max(1, (os.cpu_count() or 1) // workers)
        self._executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                             initargs=(self._event, threads, os.getpid()))

    def submit(self, plan: ParticlePlan, r: int, state: ReplicateCheckpoint | None, options: dict):
        return self._executor.submit(_worker_segment, plan, r, state, options)

    def request_stop(self, stop: bool = True) -> None:
        """Ask running segments to stop after their current step (False: clear the request)."""
        self._event.set() if stop else self._event.clear()

    def stopping(self) -> bool:
        return self._event.is_set()

    def failed(self, err: BaseException) -> None:
        """A run on this pool raised ``err``: a broken pool (a worker died) is not reused, and
        its other workers are killed: they ignore the SIGTERM with which the executor would
        end them, and this process would wait for them at exit for ever."""
        if isinstance(err, BrokenProcessPool):
            _POOLS.pop(self.slots, None)
            for process in list((getattr(self._executor, "_processes", None) or {}).values()):
                process.kill()
            self._executor.shutdown(wait=False, cancel_futures=True)


_POOLS: dict[int, ProcessPool] = {}


def process_pool(workers: int) -> ProcessPool:
    """The pool of ``workers`` spawned processes, created on first use."""
    if workers not in _POOLS:
        _POOLS[workers] = ProcessPool(workers)
    return _POOLS[workers]


class DaskPool:
    """Replicate segments as tasks on a Dask cluster (``client``): as many at a time as the
    cluster has worker threads.  Results are the same as on any other pool."""

    def __init__(self, client):
        from distributed import Event

        self._client = client
        self._executor = client.get_executor(pure=False)
        self.slots = max(1, sum(client.nthreads().values()))
        self._event_name = f"pdesolve-particles-stop-{uuid4().hex}"
        self._event = Event(self._event_name, client=client)
        self._stopping = False

    def submit(self, plan: ParticlePlan, r: int, state: ReplicateCheckpoint | None, options: dict):
        return self._executor.submit(_dask_segment, plan, r, state, options, self._event_name)

    def request_stop(self, stop: bool = True) -> None:
        self._stopping = stop
        self._event.set() if stop else self._event.clear()

    def stopping(self) -> bool:
        return self._stopping

    def failed(self, err: BaseException) -> None:
        """Dask replaces lost workers itself: nothing to discard."""


def available_cpus() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers(replicates: int) -> int:
    """min(replicates, available CPUs)."""
    return max(1, min(replicates, available_cpus()))


def workers_lost(err: BaseException) -> bool:
    """Whether ``err`` says that the processes running the replicates went away (a broken
    local pool, a Dask worker killed too often, a lost connection), not that a replicate failed."""
    return isinstance(err, (BrokenProcessPool, CancelledError)) or type(err).__module__.startswith("distributed")


def _workers(plan: ParticlePlan, workers: int | None, pool: DaskPool | None) -> int:
    """Replicates in flight at once: the pool's slots, else ``workers`` (None: the default)."""
    if pool is not None:
        return pool.slots
    return default_workers(plan.replicates) if workers is None else workers


def run_replicates(plan: ParticlePlan, pending: Mapping[int, ReplicateCheckpoint | None],
                   on_segment: Callable[[ReplicateCheckpoint, list[tuple[int, Row]]], None], *,
                   workers: int, stop: Callable[[], bool] = lambda: False, segmented: bool = False,
                   checkpoint_steps: int = 0, checkpoint_seconds: float = 0.0,
                   setup: Setup | None = None, pool: ProcessPool | DaskPool | None = None) -> bool:
    """Run the replicates ``pending`` (r → state to continue from, None: start) to the end.

    ``on_segment(state, rows)`` sees every segment's new state and output rows, in this
    process.  Returns True when all finished, False when ``stop()`` ended the run early
    (every replicate then stands at a state ``on_segment`` has seen, or has not started).
    Segments run on ``pool`` when given (e.g. a :class:`DaskPool`, ``workers`` at a time),
    else in this process (``workers`` = 1) or on :func:`process_pool`.
    """
    options = dict(segmented=segmented, checkpoint_steps=checkpoint_steps,
                   checkpoint_seconds=checkpoint_seconds)
    last = plan.times.size
    workers = max(1, min(workers, len(pending)))
    if workers == 1 and pool is None:
        runner = ReplicateRunner(plan, setup)
        for r, state in pending.items():
            if stop():
                return False
            state = runner.start(r) if state is None else state
            while state.next_output < last:
                on_segment(state, runner.advance(state, stop, **options))
                if state.next_output < last and stop():
                    return False
        return True

    pool = process_pool(workers) if pool is None else pool
    pool.request_stop(False)
    queue = deque(pending.items())
    running = {}
    finished = 0

    def submit(r: int, state: ReplicateCheckpoint | None) -> None:
        running[pool.submit(plan, r, state, options)] = r

    try:
        while queue and len(running) < workers:
            submit(*queue.popleft())
        while running:
            done, _ = wait(running, timeout=0.05, return_when=FIRST_COMPLETED)
            if stop() and not pool.stopping():
                pool.request_stop()
            for future in done:
                del running[future]
                state, rows = future.result()
                on_segment(state, rows)
                if state.next_output == last:
                    finished += 1
                    if queue and not pool.stopping():
                        submit(*queue.popleft())
                elif not pool.stopping():
                    submit(state.replicate, state)
    except BaseException as err:
        pool.request_stop()
        for future in running:
            future.cancel()
        wait(running)
        pool.failed(err)
        raise
    return finished == len(pending)


# ---------------------------------------------------------------------------------------------
# In memory
# ---------------------------------------------------------------------------------------------

def run_particles(case: Case, n: int | None = None, seed: int | None = None,
                  times=None, *, dt: float | None = None, replicates: int | None = None,
                  weighted: bool = False, method: str | None = None, workers: int | None = None,
                  keep_positions: bool = False, pool: DaskPool | None = None) -> dict:
    """Particle runs of ``case`` (same F, K, α, τ, grid and μ₀ as the grid solver).

    ``n``, ``seed``, ``replicates`` and the interaction ``method`` default to the case's
    [particles] table; ``times`` to the grid run's output times; ``dt`` to time.dt, else
    :func:`default_time_step` (each output interval is cut into equal steps ≤ dt).
    Replicate r uses the r-th child of ``SeedSequence(seed)``; ``workers`` processes run
    replicates in parallel (None: :func:`default_workers`, 1: in this process), or the
    workers of a Dask cluster (``pool``), and the result does not depend on it.  Returns

    * ``times`` (T,), ``n``, ``dt`` (the largest step used);
    * ``mass`` (R, T), ``mean`` (R, T, d), ``covariance`` (R, T, d, d), ``energy`` (R, T)
      (E = ∫F dμⁿ + ½∫∫K dμⁿdμⁿ, V-statistic, no entropy term);
    * ``histogram`` (R, T, *grid.shape): each replicate's particle density on the grid
      cells (same units as the grid μ);
    * ``steps`` (R,): steps taken per replicate;
    * with ``keep_positions``, ``positions`` (R, T, n, d).
    """
    plan, setup = make_plan(case, n=n, seed=seed, times=times, replicates=replicates, dt=dt,
                            weighted=weighted, method=method, keep_positions=keep_positions)
    workers = _workers(plan, workers, pool)
    check_memory(plan, 1 if pool else workers, held=plan.replicates)
    R, T, d = plan.replicates, plan.times.size, setup.grid.ndim
    result = {"times": plan.times, "n": plan.n, "mass": np.zeros((R, T)), "mean": np.zeros((R, T, d)),
              "covariance": np.zeros((R, T, d, d)), "energy": np.zeros((R, T)),
              "histogram": np.zeros((R, T) + setup.grid.shape), "steps": np.zeros(R, dtype=np.int64)}
    if keep_positions:
        result["positions"] = np.zeros((R, T, plan.n, d))
    steps_bound = np.zeros(R)

    def collect(state: ReplicateCheckpoint, rows: list[tuple[int, Row]]) -> None:
        for k, row in rows:
            for name, value in row.items():
                result[name][state.replicate, k] = value
        result["steps"][state.replicate] = state.steps
        steps_bound[state.replicate] = largest_step(plan.times, state.step)

    try:
        run_replicates(plan, dict.fromkeys(range(R)), collect, workers=workers, setup=setup, pool=pool)
    except Exception as err:
        if not workers_lost(err):
            raise
        raise RuntimeError(f"the worker processes were lost ({type(err).__name__})") from None
    result["dt"] = float(steps_bound.max())
    return result


# ---------------------------------------------------------------------------------------------
# Into a file
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ParticleRunSummary:
    """What a finished particle run reports."""

    output: Path
    replicates: int
    n: int
    dt: float
    steps: int
    wall_time: float
    workers: int

    def as_attrs(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "output"}

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        workers = f"{self.workers} worker" + ("s" if self.workers != 1 else "")
        return (f"finished {self.replicates} replicates of n = {self.n} particles, dt = {self.dt:.4g}, "
                f"{self.steps} steps, {self.wall_time:.2f} s wall ({workers}) -> {self.output}")


class ParticleRunInterrupted(RunInterrupted):
    """SIGINT or SIGTERM stopped a particle run; its file holds the checkpoint."""

    def __init__(self, signum: int, output: Path, finished: int, replicates: int,
                 in_progress: Mapping[int, float]):
        super().__init__(signum, output, min(in_progress.values(), default=0.0), 0)
        where = ", ".join(f"{r} at t = {t:g}" for r, t in sorted(in_progress.items()))
        self.args = (f"interrupted by {signal.Signals(signum).name} with {finished} of {replicates} "
                     f"replicates finished" + (f" (in progress: {where})" if where else ""),)


def _file_attrs(case: Case, plan: ParticlePlan, overrides: tuple[str, ...]) -> dict:
    return {"title": case.title, "overrides": list(overrides) or "",
            "n": plan.n, "replicates": plan.replicates, "seed": plan.seed,
            "keep_positions": plan.keep_positions, "interaction": plan.method,
            "integrator": case.particles.integrator}


def run_particles_file(case: Case, output: str | Path, *, n: int | None = None,
                       replicates: int | None = None, seed: int | None = None,
                       workers: int | None = None, keep_positions: bool = False, force: bool = False,
                       progress: bool = True, overrides: tuple[str, ...] = (),
                       stop: dict | None = None, pool: DaskPool | None = None) -> ParticleRunSummary:
    """Run the particles of ``case`` into the HDF5 file ``output`` (refused if it exists,
    unless ``force``).  The file appears complete, or marked interrupted after SIGINT/SIGTERM
    or once ``stop["signum"]`` is set (RunInterrupted is raised); a run that fails leaves
    nothing.  ``overrides`` (the --set list) are recorded for the resume check.  Replicates
    run on ``workers`` processes or on a Dask ``pool`` (see :func:`run_particles`)."""
    plan, setup = make_plan(case, n=n, replicates=replicates, seed=seed, keep_positions=keep_positions)
    workers = _workers(plan, workers, pool)
    check_memory(plan, 1 if pool else workers, held=1)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with stop_on_signals(stop) as flag, \
            ParticleWriter(output, setup.grid, plan.times, replicates=plan.replicates, n=plan.n,
                           slots=min(workers, plan.replicates), keep_positions=plan.keep_positions,
                           case_text=case.text, case_source=str(case.path),
                           attrs=_file_attrs(case, plan, overrides),
                           compression=case.output.compression, force=force) as writer:
        return _run_into(plan, setup, writer, np.zeros(plan.replicates, dtype=bool), {}, workers,
                         flag, progress, pool)


def resume_particles_file(case: Case, output: str | Path, *, n: int | None = None,
                          replicates: int | None = None, seed: int | None = None,
                          workers: int | None = None, keep_positions: bool | None = None,
                          progress: bool = True, overrides: tuple[str, ...] = (),
                          stop: dict | None = None, pool: DaskPool | None = None) -> ParticleRunSummary:
    """Continue the interrupted (or killed) particle run whose result is ``output``.

    The case text and --set overrides must be the ones it started with; n, replicates,
    seed and keep_positions are read from the file (given ones must agree); ``stop`` and
    ``pool`` as for :func:`run_particles_file`."""
    def same_run(attrs: dict) -> None:
        check_same_run(case, overrides, attrs, output)
        for name, given in (("n", n), ("replicates", replicates), ("seed", seed),
                            ("keep_positions", keep_positions)):
            if given is not None and attrs[name] != given:
                raise CaseError(str(case.path), "--resume",
                                f"{output} was started with {name} = {attrs[name]}, not {given}")

    with stop_on_signals(stop) as flag:
        writer, finished, states = ParticleWriter.resume(
            output, slots=pool.slots if pool else available_cpus() if workers is None else workers,
            check=same_run,
            compression=case.output.compression)
        with writer:
            plan, setup = make_plan(case, n=writer.n, replicates=writer.replicates,
                                    seed=int(writer.run_attrs["seed"]),
                                    keep_positions=writer.keep_positions)
            workers = pool.slots if pool else default_workers(int((~finished).sum())) if workers is None else workers
            check_memory(plan, 1 if pool else workers, held=1)
            return _run_into(plan, setup, writer, finished, states, workers, flag, progress, pool)


def _run_into(plan: ParticlePlan, setup: Setup, writer: ParticleWriter, finished: np.ndarray,
              states: dict[int, ReplicateCheckpoint], workers: int, flag: dict,
              progress: bool, pool: DaskPool | None) -> ParticleRunSummary:
    """Run the unfinished replicates into ``writer``; finish or suspend it."""
    times = plan.times
    pending = {r: states[r] for r in sorted(states)}     # in progress first: they hold slots
    pending.update((r, None) for r in range(plan.replicates) if not finished[r] and r not in states)
    done = finished.copy()
    clock = {r: state.t for r, state in states.items()}
    bar = tqdm(total=plan.replicates * float(times[-1]),
               initial=float(done.sum() * times[-1] + sum(clock.values())), unit="t",
               disable=None if progress else True, leave=False,
               bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} replicate-time [{elapsed}<{remaining}]")
    out_spec = plan.case.output

    def on_segment(state: ReplicateCheckpoint, rows: list[tuple[int, Row]]) -> None:
        r = state.replicate
        for k, row in rows:
            writer.write_output(r, k, row)
        if state.next_output == times.size:
            writer.finish_replicate(r, state.steps, largest_step(times, state.step))
            done[r] = True
        else:
            writer.save_state(state)
        bar.update(state.t - clock.get(r, 0.0))
        clock[r] = state.t

    with bar:
        try:
            complete = run_replicates(plan, pending, on_segment, workers=workers,
                                      stop=lambda: flag["signum"] is not None, segmented=True,
                                      checkpoint_steps=out_spec.checkpoint_steps,
                                      checkpoint_seconds=out_spec.checkpoint_seconds, setup=setup, pool=pool)
        except Exception as err:
            if not workers_lost(err):
                raise
            writer.suspend()   # the checkpoint of every replicate seen so far is kept
            raise RuntimeError(f"the worker processes were lost ({type(err).__name__}); the checkpoint "
                               f"is kept in {writer.path}: continue with --resume {writer.path}") from None
    if not complete:
        writer.suspend()
        in_progress = {r: t for r, t in clock.items() if not done[r]}
        raise ParticleRunInterrupted(flag["signum"], writer.path, int(done.sum()), plan.replicates,
                                     in_progress)
    steps, dts = writer.replicate_record()
    summary = ParticleRunSummary(output=writer.path, replicates=plan.replicates, n=plan.n,
                                 dt=float(dts.max()), steps=int(steps.sum()),
                                 wall_time=writer.wall_time(), workers=workers)
    writer.finish(summary.as_attrs())
    return summary
