"""Comparison with py-pde and FiPy (each if importable) on the issue's problem.

∂t μ = ∇·(μ∇F) − α(F − F̄)μ,  F = ½|x|²,  F̄ = ∫Fμ / ∫μ,  no-flux box [−4, 4]²,
α = 1, start N((0.5, −0.3), 0.6² I), t_end = 0.5, L¹ error against
pdesolve.analysis.exact.GaussianFlow(a=1, reaction="balanced").  All codes take the same
fixed number of equal steps (Δt from pdesolve's stability bound at t = 0).
py-pde has no upwind finite-volume transport: its right-hand side is written with
its own compiled centred ``divergence`` operator (flux vector field with value 0 at
the walls) and integrated by its explicit Euler solver (``EulerSolver.make_stepper``).
FiPy cannot write F̄ (a global integral of the unknown) in an equation, so F̄ is
recomputed from the current μ before every step and enters as the coefficient of an
implicit source: each step solves (μ − μ_old)/Δt + ∇·(−∇F μ_old) = −α(F − F̄_old) μ
on FiPy's finite volumes, with its second-order TVD ``VanLeerConvectionTerm``
(explicit, so forward Euler in the transport; velocity −∇F exact at the faces),
no-flux walls (FiPy's default) and scipy's BiCGSTAB for the (diagonal) linear system.
FiPy's implicit first-order ``UpwindConvectionTerm`` was tried too: about the same
time per step and 10–16× the L¹ error of this set-up at 64² and 128².

Run as a script (``python peers.py cold CODE CELLS``) it prints the seconds from
interpreter start to the end of the first step, for the cold (fresh NUMBA_CACHE_DIR)
and warm (cache filled by the cold run) start measurements, in subprocesses with one
Numba thread.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time

PROCESS_START = time.perf_counter()

import numpy as np  # noqa: E402

MEAN = (0.5, -0.3)
WIDTH = 0.6
ALPHA = 1.0
T_END = 0.5


def pypde_available() -> str | None:
    """py-pde's version if it imports, else None."""
    try:
        import pde
    except ImportError:
        return None
    return pde.__version__


def exact_flow():
    from pdesolve.analysis.exact import GaussianFlow
    return GaussianFlow(a=1.0, m0=MEAN, s0=WIDTH, alpha=ALPHA, reaction="balanced")


def l1_error(grid, mu: np.ndarray) -> float:
    """∫|μ − μ_exact(t_end)| on the grid."""
    return float(grid.integrate(np.abs(mu - exact_flow().state(T_END).density(grid))))


def pdesolve_setup(n: int):
    """(solver, Δt, steps) for the comparison problem on n² cells."""
    from cases import box_grid, gaussian_start, quadratic_potential
    from pdesolve.model.problem import Problem, Scheme
    from pdesolve.fv.solver import Solver
    grid = box_grid((n, n))
    problem = Problem(grid, quadratic_potential(grid), None, "balanced", ALPHA, 0.0)
    solver = Solver(problem, Scheme(order=2, theta=2.0), gaussian_start(grid, MEAN, WIDTH))
    steps = math.ceil(T_END / solver.stable_dt())
    return solver, T_END / steps, steps


def run_pdesolve(n: int) -> dict[str, float]:
    """Wall time per step and L¹ error of pdesolve after t_end (kernels already compiled)."""
    start = time.perf_counter()
    solver, dt, steps = pdesolve_setup(n)
    solver.step(dt)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps - 1):
        solver.step(dt)
    per_step = (time.perf_counter() - start) / (steps - 1)
    return {"first_step_s": first, "step_s": per_step, "steps": steps,
            "total_s": first + per_step * (steps - 1),
            "l1": l1_error(solver.problem.grid, solver.mu)}


def pypde_equation(n: int):
    """(py-pde PDE, initial ScalarField, pdesolve Grid with the same cell centres)."""
    import numba as nb
    import pde
    from cases import box_grid, gaussian_start

    grid = box_grid((n, n))
    pgrid = pde.CartesianGrid([[-4.0, 4.0], [-4.0, 4.0]], [n, n], periodic=False)
    x, y = pgrid.cell_coords[..., 0], pgrid.cell_coords[..., 1]
    potential = 0.5 * (x ** 2 + y ** 2)
    gradient = np.stack([x, y])
    alpha = ALPHA

    class BalancedGradientFlow(pde.PDEBase):
        """∂t μ = ∇·(μ∇F) − α(F − F̄)μ with py-pde's compiled divergence."""

        def evolution_rate(self, state, t=0):
            raise NotImplementedError("only the numba backend is used")

        def make_evolution_rate(self, state, backend):
            divergence = state.grid.make_operator("divergence", bc={"value": 0}, backend=backend)

            @nb.njit
            def rhs(mu, t):
                flux = np.empty_like(gradient)
                flux[0] = gradient[0] * mu
                flux[1] = gradient[1] * mu
                mean_f = (potential * mu).sum() / mu.sum()
                return divergence(flux) - alpha * (potential - mean_f) * mu

            return rhs

    return BalancedGradientFlow(), pde.ScalarField(pgrid, gaussian_start(grid, MEAN, WIDTH)), grid


def run_pypde(n: int) -> dict[str, float]:
    """py-pde's explicit Euler stepper with pdesolve's Δt and step count.

    First-step time = building py-pde's compiled stepper (it compiles per stepper, so
    this is paid in-process too) + one step; time per step from the remaining steps.
    """
    import pde
    _, dt, steps = pdesolve_setup(n)
    equation, initial, grid = pypde_equation(n)
    state = initial.copy()
    solver = pde.EulerSolver(equation, backend="numba")
    start = time.perf_counter()
    stepper = solver.make_stepper(state, dt)
    t = stepper(state, 0.0, dt)
    first = time.perf_counter() - start
    taken = solver.info["steps"]
    start = time.perf_counter()
    t = stepper(state, t, steps * dt)
    rest = time.perf_counter() - start
    remaining = solver.info["steps"] - taken
    return {"first_step_s": first, "step_s": rest / remaining, "steps": solver.info["steps"],
            "total_s": first + rest, "t_end": t, "l1": l1_error(grid, state.data)}


def fipy_available() -> str | None:
    """FiPy's version if it imports, else None."""
    try:
        import fipy
    except ImportError:
        return None
    return fipy.__version__


def fipy_equation(n: int):
    """(step function advancing FiPy's μ by Δt, FiPy's μ, pdesolve Grid with the same cells).

    FiPy orders cells x fastest; pdesolve arrays are (x, y) with y fastest, hence order="F".
    """
    import fipy as fp
    from cases import HALF_WIDTH, box_grid, gaussian_start

    grid = box_grid((n, n))
    h = 2 * HALF_WIDTH / n
    mesh = fp.Grid2D(nx=n, ny=n, dx=h, dy=h) + ((-HALF_WIDTH,), (-HALF_WIDTH,))
    mu = fp.CellVariable(mesh=mesh, value=gaussian_start(grid, MEAN, WIDTH).ravel(order="F"))
    x, y = mesh.cellCenters.value
    potential = 0.5 * (x ** 2 + y ** 2)
    velocity = fp.FaceVariable(mesh=mesh, rank=1, value=-mesh.faceCenters.value)
    rate = fp.CellVariable(mesh=mesh, value=0.0)
    equation = (fp.TransientTerm() + fp.VanLeerConvectionTerm(coeff=velocity)
                == fp.ImplicitSourceTerm(coeff=rate))
    solver = fp.LinearBicgstabSolver(tolerance=1e-12)

    def step(dt: float) -> None:
        values = mu.value
        rate.setValue(-ALPHA * (potential - np.dot(potential, values) / values.sum()))
        equation.solve(var=mu, dt=dt, solver=solver)

    return step, mu, grid


def fipy_density(mu, n: int) -> np.ndarray:
    """FiPy's cell values as a pdesolve (x, y) array."""
    return np.asarray(mu.value).reshape((n, n), order="F")


def run_fipy(n: int) -> dict[str, float]:
    """FiPy with pdesolve's Δt and step count.  First-step time = building the mesh,
    variables and equation + one step; time per step from the remaining steps."""
    _, dt, steps = pdesolve_setup(n)
    start = time.perf_counter()
    step, mu, grid = fipy_equation(n)
    step(dt)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps - 1):
        step(dt)
    per_step = (time.perf_counter() - start) / (steps - 1)
    return {"first_step_s": first, "step_s": per_step, "steps": steps,
            "total_s": first + per_step * (steps - 1), "l1": l1_error(grid, fipy_density(mu, n))}


def start_to_first_step(code: str, n: int) -> tuple[float, float]:
    """Seconds from interpreter start to the end of the first step in a fresh process
    (imports + compilation or cache load + one step), with an empty NUMBA_CACHE_DIR
    (cold) and then again with the cache that run left behind (warm)."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, NUMBA_NUM_THREADS="1")
        here = os.path.dirname(os.path.abspath(__file__))
        seconds = []
        for _ in range(2):
            result = subprocess.run([sys.executable, os.path.join(here, "peers.py"), "cold", code, str(n)],
                                    env=env, capture_output=True, text=True, check=True)
            seconds.append(float(result.stdout.strip().splitlines()[-1]))
    return seconds[0], seconds[1]


def _cold_main(code: str, n: int) -> None:
    if code == "pdesolve":
        solver, dt, _ = pdesolve_setup(n)
        solver.step(dt)
    elif code == "fipy":
        _, dt, _ = pdesolve_setup(n)
        step, _, _ = fipy_equation(n)
        step(dt)
    else:
        _, dt, _ = pdesolve_setup(n)
        equation, state, _ = pypde_equation(n)
        import pde
        stepper = pde.EulerSolver(equation, backend="numba").make_stepper(state, dt)
        stepper(state, 0.0, dt)
    print(time.perf_counter() - PROCESS_START)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "cold":
    import warnings
    warnings.simplefilter("ignore")
    _cold_main(sys.argv[2], int(sys.argv[3]))
