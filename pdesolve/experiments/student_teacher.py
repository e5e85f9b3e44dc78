"""Two-layer ReLU networks in mean-field form, trained by SGD with neuron birth–death
(seed (27)–(30) and §7.2, DESIGN §5: the student–teacher experiment of the seed's Fig. 2).

Network (seed (27) with φ(x, θ) = relu(w·x), no biases), n units θ_i = (w_i, c_i):

    f_n(x) = (1/n) Σ_i c_i relu(w_i · x)

The units are stored as one (n, d+1) array ``theta`` whose last column is the output
weight c (the package's neuron form) and whose first d columns are w.

Teacher, as in the authors' notebook (a plain network, no 1/m): m units with
w̄_j ~ N(0, I_d) rescaled so that |w̄_j| |c̄_j| = 1, c̄_j = ±1 with random signs,

    f(x) = Σ_j c̄_j relu(w̄_j · x)          (relu_sum of the teacher units),

so the student's mass (1/n) Σ_i |c_i| |w_i| must grow to about Σ_j |c̄_j| |w̄_j| = m from
its O(1) start.  Inputs x ~ N(0, I_d), drawn afresh for every batch.

Batch {x_p}, p = 1..P, residual r_p = f_n(x_p) − f(x_p):

    L_P       = ½ (1/P) Σ_p r_p²                                  (batch loss)
    V̂_P(w)    = (1/P) Σ_p relu(w · x_p) r_p                       (seed (29)) = n ∂L_P/∂c_i
    V_i       = c_i V̂_P(w_i)                                      (unit potential, seed (28))

Time convention (mean-field): one step of size Δt moves each unit by the gradient of its
own potential, seed (24),

    c_i ← c_i − Δt V̂_P(w_i),     w_i ← w_i − Δt c_i (1/P) Σ_p 1[w_i·x_p > 0] r_p x_p,

i.e. θ_i ← θ_i − Δt n ∇_{θ_i} L_P: plain SGD on L_P with learning rate n Δt, and the
time is t = (number of SGD steps) × Δt.  Every unit then moves O(Δt) per step at any n.

Birth–death after each SGD step (seed Algorithm 1 with the batch estimate (29); the V_i
are those the SGD step computed, before the move, as seed §6 describes):

* ``"birth_death"``: Ṽ_i = V_i − (1/n) Σ_j V_j; unit i is killed with probability
  1 − exp(−α Ṽ_i Δt) if Ṽ_i > 0 and duplicated with probability 1 − exp(−α |Ṽ_i| Δt) if
  Ṽ_i < 0; then the population is restored to n exactly by random kills or duplicates.
* ``"reinjection"``: the same loop with the unbalanced rates V_i (the package's reading
  of seed §6, DESIGN §1; the authors' notebook also kills on V_i > 0 without centring);
  if the population fell, the deficit is drawn from the prior μ_b (this is the literal,
  deficit-refilling algorithm, the particle module's ``reinjection_deficit``) = δ₀(c) × N(0, I_d/n²)
  (seed (30), entries of w with standard deviation 1/n as in the notebook), so that a
  reinjected unit leaves f_n unchanged; if it grew, uniformly chosen units are killed.
* ``"sgd"``: no birth–death.

The notebook's own protocol (standard parametrisation, unit-sphere inputs, the rate
α c_i ∂L/∂c_i used directly as a per-step probability, DESIGN §5) is
:mod:`.notebook_student_teacher`; this module uses Algorithm 1 throughout.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..model.schedule import Schedule, as_schedule
from ..particles.birth_death import birth_death_rates, offspring_counts, reinject_deficit, restore_population

VARIANTS = ("sgd", "birth_death", "reinjection")
BATCH_BLOCK = 256


def relu_sum(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Σ_i c_i relu(w_i · x_p) for the (P, d) inputs ``x``; θ = (w, c) (the teacher f)."""
    return np.maximum(x @ theta[:, :-1].T, 0.0) @ theta[:, -1]


def relu_network(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """f_n(x_p) = (1/n) Σ_i c_i relu(w_i · x_p) for the (P, d) inputs ``x`` (seed (27))."""
    return relu_sum(theta, x) / theta.shape[0]


def teacher_units(dim: int, units: int, rng: np.random.Generator) -> np.ndarray:
    """(m, d+1) teacher units: w̄_j ~ N(0, I_d) rescaled to |w̄_j| |c̄_j| = 1, c̄_j = ±1."""
    w = rng.standard_normal((units, dim))
    c = rng.choice((-1.0, 1.0), size=units)
    w /= (np.linalg.norm(w, axis=1) * np.abs(c))[:, None]
    return np.column_stack((w, c))


def student_units(dim: int, units: int, rng: np.random.Generator) -> np.ndarray:
    """(n, d+1) initial student units: w_i ~ N(0, I_d/d) (so |w_i| ≈ 1), c_i ~ N(0, 1)."""
    return np.column_stack((rng.standard_normal((units, dim)) / np.sqrt(dim),
                            rng.standard_normal(units)))


def prior_units(count: int, dim: int, hidden: int, rng: np.random.Generator) -> np.ndarray:
    """(count, d+1) draws from μ_b = δ₀(c) × N(0, I_d/hidden²) (seed (30))."""
    return np.column_stack((rng.standard_normal((count, dim)) / hidden, np.zeros(count)))


@dataclass(frozen=True)
class BatchEstimate:
    """One batch's loss L_P, unit potentials V_i = c_i V̂_P(w_i) and (n, d+1) per-unit moves
    ∇_θ V_P(θ_i) = n ∇_{θ_i} L_P, whose last column is V̂_P(w_i) (seed (29))."""

    loss: float
    potentials: np.ndarray
    gradient: np.ndarray


def batch_estimate(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> BatchEstimate:
    """With r_p = f_n(x_p) − y_p: L_P = ½ mean_p r_p², V̂_P(w_i) = mean_p relu(w_i·x_p) r_p,
    V_i = c_i V̂_P(w_i), gradient rows (c_i mean_p 1[w_i·x_p > 0] r_p x_p, V̂_P(w_i))."""
    n, batch = theta.shape[0], x.shape[0]
    c = theta[:, -1]
    pre = x @ theta[:, :-1].T
    act = np.maximum(pre, 0.0)
    residual = act @ c / n - y
    gradient = np.empty_like(theta)
    gradient[:, :-1] = ((pre > 0.0) * residual[:, None]).T @ x
    gradient[:, :-1] *= c[:, None] / batch
    gradient[:, -1] = act.T @ residual / batch
    return BatchEstimate(0.5 * float(residual @ residual) / batch, c * gradient[:, -1], gradient)


def birth_death_units(theta: np.ndarray, potentials: np.ndarray, variant: str, alpha: float,
                      dt: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """The n units after one birth–death step of ``variant`` (module docstring), and the
    number of kills + duplicates in the loop: Algorithm 1 on Ṽ_i = V_i − mean V
    ("birth_death"), or on V_i with the deficit drawn from μ_b ("reinjection");
    ``theta`` itself and 0 for "sgd" or α = 0."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
    if variant == "sgd" or alpha == 0.0:
        return theta, 0
    n, dim = theta.shape[0], theta.shape[1] - 1
    rates = birth_death_rates(potentials, balanced=variant == "birth_death")
    counts = offspring_counts(rates, alpha, dt, rng)
    events = int(np.count_nonzero(counts != 1))
    if events == 0:
        return theta, 0
    if variant == "birth_death":
        return theta[restore_population(counts, n, rng)], events
    return reinject_deficit(theta, counts, n, rng, lambda k, g: prior_units(k, dim, n, g)), events


@dataclass(frozen=True)
class StudentTeacherConfig:
    """Parameters of the seed §7.2 experiment (defaults: those of validation/student_teacher.py);
    ``alpha`` a number or a schedule α(t) (:mod:`pdesolve.model.schedule`), t = step × Δt."""

    dim: int = 50
    teacher_units: int = 10
    student_units: int = 50
    batch: int = 100
    dt: float = 0.05
    alpha: Schedule | float = 0.03
    steps: int = 10_000
    records: int = 120
    test_points: int = 4096

    def __post_init__(self):
        object.__setattr__(self, "alpha", as_schedule(self.alpha))


@dataclass(frozen=True)
class TrainingHistory:
    """Losses at the record times t_k = step_k Δt: ``batch_loss`` is the mean of L_P over
    the steps since the previous record, ``test_loss`` ½ mean (f_n − f)² on the fixed
    held-out set after step_k; ``events`` counts the loops' kills + duplicates and
    ``units`` holds the final (n, d+1) units."""

    times: np.ndarray
    batch_loss: np.ndarray
    test_loss: np.ndarray
    events: int
    units: np.ndarray = field(repr=False)


def record_steps(steps: int, records: int) -> np.ndarray:
    """About ``records`` distinct step numbers, geometrically spaced from 1 to ``steps``."""
    return np.unique(np.geomspace(1, steps, records).round().astype(np.int64))


def train_student(theta: np.ndarray, teacher: np.ndarray, variant: str,
                  config: StudentTeacherConfig, data_rng: np.random.Generator,
                  birth_death_rng: np.random.Generator, test_x: np.ndarray) -> TrainingHistory:
    """``config.steps`` SGD steps, each on a fresh batch x ~ N(0, I_d) from ``data_rng``
    (drawn :data:`BATCH_BLOCK` batches at a time) with targets f(x) = relu_sum(teacher, x),
    each followed by the birth–death of ``variant``; returns the loss history."""
    theta = theta.copy()
    test_y = relu_sum(teacher, test_x)
    marks = record_steps(config.steps, config.records)
    batch_loss = np.empty(marks.shape[0])
    test_loss = np.empty(marks.shape[0])
    events, total, since, mark = 0, 0.0, 0, 0
    for start in range(0, config.steps, BATCH_BLOCK):
        block = min(BATCH_BLOCK, config.steps - start)
        xs = data_rng.standard_normal((block * config.batch, config.dim))
        ys = relu_sum(teacher, xs)
        for k in range(block):
            rows = slice(k * config.batch, (k + 1) * config.batch)
            estimate = batch_estimate(theta, xs[rows], ys[rows])
            theta -= config.dt * estimate.gradient
            alpha = config.alpha.mean((start + k) * config.dt, config.dt)
            theta, count = birth_death_units(theta, estimate.potentials, variant, alpha,
                                             config.dt, birth_death_rng)
            events += count
            total += estimate.loss
            since += 1
            if start + k + 1 == marks[mark]:
                residual = relu_network(theta, test_x) - test_y
                batch_loss[mark] = total / since
                test_loss[mark] = 0.5 * float(residual @ residual) / test_x.shape[0]
                total, since, mark = 0.0, 0, mark + 1
    return TrainingHistory(marks * config.dt, batch_loss, test_loss, events, theta)


def run_student_teacher(seed: int, variant: str, config: StudentTeacherConfig) -> TrainingHistory:
    """One run of seed §7.2 from ``seed``: the teacher, the student's initial units, the
    held-out set and the batch stream depend on ``seed`` only (common to all variants);
    the birth–death draws come from their own stream."""
    teacher_seed, student_seed, test_seed, data_seed, bd_seed = np.random.SeedSequence(seed).spawn(5)
    teacher = teacher_units(config.dim, config.teacher_units, np.random.default_rng(teacher_seed))
    student = student_units(config.dim, config.student_units, np.random.default_rng(student_seed))
    test_x = np.random.default_rng(test_seed).standard_normal((config.test_points, config.dim))
    return train_student(student, teacher, variant, config, np.random.default_rng(data_seed),
                         np.random.default_rng(bd_seed), test_x)
