"""The student–teacher experiment of seed Fig. 2 under the protocol of the authors' notebook
(``student_teacher_example.ipynb``, as DESIGN §5 records it), beside the package's mean-field
protocol of :mod:`.student_teacher`.

Network in the standard parametrisation, no biases, n units θ_i = (w_i, c_i):

    f_n(x) = Σ_i c_i relu(w_i · x),      x = g / |g|, g ~ N(0, I_d)   (the unit sphere)

Teacher as in :func:`.student_teacher.teacher_units` (rows N(0, 1) rescaled to
|w̄_j| |c̄_j| = 1); student entries N(0, 1/n).  Loss L = (1/P) Σ_p r_p² (no ½), r_p =
f_n(x_p) − f(x_p), on a fresh batch of P points per step; SGD θ ← θ − η ∇_θ L.

Birth–death after each step, with the step's batch gradient: the rate of unit i is
ρ_i = α c_i ∂L/∂c_i, used directly as a probability per step (capped at 1):

* ``"birth_death"`` (the notebook's plain run, α = 1): unit i is killed with probability
  ρ_i if ρ_i > 0, and then overwritten by a copy of a uniformly chosen unit that was not
  killed; it is cloned with probability |ρ_i| if ρ_i < 0, the clone overwriting a uniformly
  chosen unit that is not itself being cloned;
* ``"prior"`` (the notebook's run with μ_b, α = 0.01): kills only, each killed unit redrawn
  with w entries N(0, 1/n²) and c = 0, so that it leaves f_n unchanged;
* ``"sgd"``: no birth–death.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .student_teacher import TrainingHistory, record_steps, relu_sum, teacher_units

NOTEBOOK_VARIANTS = ("sgd", "birth_death", "prior")
NOTEBOOK_ALPHA = {"sgd": 0.0, "birth_death": 1.0, "prior": 0.01}


@dataclass(frozen=True)
class NotebookConfig:
    """The notebook's settings (DESIGN §5)."""

    dim: int = 50
    teacher_units: int = 10
    student_units: int = 50
    batch: int = 100
    learning_rate: float = 0.02
    steps: int = 100_000
    records: int = 120
    test_points: int = 4096


def sphere_points(count: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points uniform on the unit sphere of R^dim."""
    g = rng.standard_normal((count, dim))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def loss_gradient(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """L = mean_p r_p² and ∇_θ L (rows (∂L/∂w_i, ∂L/∂c_i)) for f_n = Σ_i c_i relu(w_i·x)."""
    pre = x @ theta[:, :-1].T
    act = np.maximum(pre, 0.0)
    residual = act @ theta[:, -1] - y
    gradient = np.empty_like(theta)
    gradient[:, :-1] = ((pre > 0.0) * residual[:, None]).T @ x
    gradient[:, :-1] *= 2.0 * theta[:, -1:] / x.shape[0]
    gradient[:, -1] = 2.0 * act.T @ residual / x.shape[0]
    return float(residual @ residual) / x.shape[0], gradient


def notebook_birth_death(theta: np.ndarray, rates: np.ndarray, variant: str,
                         rng: np.random.Generator) -> int:
    """Apply the notebook's birth–death of ``variant`` in place to ``theta`` with per-step
    probabilities ``rates`` (ρ_i); returns the number of kills + clones."""
    n = theta.shape[0]
    hit = rng.random(n) < np.minimum(np.abs(rates), 1.0)
    killed = np.flatnonzero(hit & (rates > 0))
    if variant == "prior":
        theta[killed, :-1] = rng.standard_normal((killed.size, theta.shape[1] - 1)) / n
        theta[killed, -1] = 0.0
        return int(killed.size)
    survivors = np.setdiff1d(np.arange(n), killed)
    if killed.size and survivors.size:
        theta[killed] = theta[rng.choice(survivors, killed.size)]
    cloned = np.flatnonzero(hit & (rates < 0))
    others = np.setdiff1d(np.arange(n), cloned)
    if cloned.size and others.size:
        theta[rng.choice(others, cloned.size)] = theta[cloned]
    return int(killed.size + cloned.size)


def run_notebook_student_teacher(seed: int, variant: str, config: NotebookConfig,
                                 alpha: float | None = None) -> TrainingHistory:
    """One run from ``seed`` (teacher, student, test set and batches depend on the seed only;
    the birth–death draws have their own stream); α defaults to the notebook's for the
    variant.  Losses recorded are L (no ½) on the batch and on the held-out sphere points."""
    if variant not in NOTEBOOK_VARIANTS:
        raise ValueError(f"variant must be one of {NOTEBOOK_VARIANTS}, not {variant!r}")
    alpha = NOTEBOOK_ALPHA[variant] if alpha is None else alpha
    teacher_seed, student_seed, test_seed, data_seed, bd_seed = np.random.SeedSequence(seed).spawn(5)
    n, d = config.student_units, config.dim
    teacher = teacher_units(d, config.teacher_units, np.random.default_rng(teacher_seed))
    theta = np.random.default_rng(student_seed).standard_normal((n, d + 1)) / np.sqrt(n)
    test_x = sphere_points(config.test_points, d, np.random.default_rng(test_seed))
    test_y = relu_sum(teacher, test_x)
    data_rng, bd_rng = np.random.default_rng(data_seed), np.random.default_rng(bd_seed)
    marks = record_steps(config.steps, config.records)
    batch_loss, test_loss = np.empty(marks.size), np.empty(marks.size)
    events, total, since, mark = 0, 0.0, 0, 0
    for step in range(1, config.steps + 1):
        x = sphere_points(config.batch, d, data_rng)
        loss, gradient = loss_gradient(theta, x, relu_sum(teacher, x))
        rates = alpha * theta[:, -1] * gradient[:, -1]
        theta -= config.learning_rate * gradient
        if alpha > 0.0:
            events += notebook_birth_death(theta, rates, variant, bd_rng)
        total += loss
        since += 1
        if step == marks[mark]:
            residual = relu_sum(theta, test_x) - test_y
            batch_loss[mark], test_loss[mark] = total / since, float(residual @ residual) / test_x.shape[0]
            total, since, mark = 0.0, 0, mark + 1
            if mark == marks.size:
                break
    return TrainingHistory(times=marks.astype(float), batch_loss=batch_loss, test_loss=test_loss,
                           events=events, units=theta)
