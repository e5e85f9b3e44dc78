"""Re-insert the nine one-line defects of issue #18 one at a time and run the suite on each.

Each defect passed the whole suite of pdesolve 0.1; this script shows which tests now
catch it.  It edits the source in place and always puts it back, so run it on a clean
tree (it refuses otherwise).  Usage:

    python mutation/known_defects.py [--tests "tests/ -x"] [NAME ...]

Prints, per defect, the failing tests (pytest's short summary) and exits 1 if any
defect survives.
"""
from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOWN = 6  # failing tests listed per defect


@dataclass(frozen=True)
class Defect:
    name: str
    path: str
    old: str
    new: str
    tests: str   # where the killing tests live (the whole suite also kills it; this is faster)


DEFECTS = (
    Defect("entropy_plus_one", "pdesolve/fv/backends/numba/reaction.py",
           "tau * (math.log(max(mu[i], LOG_FLOOR)) + 1.0)", "tau * (math.log(max(mu[i], LOG_FLOOR)))",
           "tests/test_invariants.py"),
    Defect("cfl_factor_two", "pdesolve/fv/backends/numba/backend.py",
           "return 2.0 * float(np.dot(speeds, self.inv_h)) + self.diffusion_rate",
           "return float(np.dot(speeds, self.inv_h)) + self.diffusion_rate", "tests/test_invariants.py"),
    Defect("energy_half", "pdesolve/fv/diagnostics.py",
           "(problem.potential + 0.5 * interaction_part) * mu", "(problem.potential + interaction_part) * mu",
           "tests/test_invariants.py"),
    Defect("balanced_mean_mass", "pdesolve/model/reactions/balanced.py",
           "return (first / mass if mass > 0 else 0.0), 0.0",
           "return (first * cell_volume if mass > 0 else 0.0), 0.0",
           "tests/test_invariants.py"),
    Defect("cic_1d_weights", "pdesolve/particles/mesh_kernels.py",
           "out[x0, 0, 0] += w * (1 - fx)\n            out[x1, 0, 0] += w * fx",
           "out[x0, 0, 0] += w * fx\n            out[x1, 0, 0] += w * (1 - fx)",
           "tests/test_particle_mesh.py"),
    Defect("output_checkpoint_order", "pdesolve/drive/grid_run.py",
           "next_output += 1\n            save_checkpoint()", "save_checkpoint()\n            next_output += 1",
           "tests/test_reliability.py"),
    Defect("attribute_call", "pdesolve/config/expression.py",
           "if not isinstance(node.func, ast.Name):", "if not isinstance(node.func, (ast.Name, ast.Attribute)):",
           "tests/test_expression.py tests/test_fuzz.py"),
    Defect("negative_times", "pdesolve/config/case.py",
           '"times": Key(number_list(NON_NEGATIVE))', '"times": Key(number_list())',
           "tests/test_case.py"),
    Defect("restore_conserved_mass", "pdesolve/fv/solver.py",
           '        self._conserved_mass = float(state["conserved_mass"])\n', "",
           "tests/test_invariants.py"),
)
# The attribute-call defect also needs the name of an attribute callee:
ATTRIBUTE_NAME = ("name = node.func.id", 'name = getattr(node.func, "id", getattr(node.func, "attr", ""))')


def apply(defect: Defect) -> dict[Path, str]:
    """Write the defect into the source; return the original texts to restore."""
    path = ROOT / defect.path
    original = path.read_text(encoding="utf-8")
    if original.count(defect.old) != 1:
        raise SystemExit(f"{defect.name}: the original line is not in {defect.path} exactly once")
    text = original.replace(defect.old, defect.new)
    if defect.name == "attribute_call":
        text = text.replace(*ATTRIBUTE_NAME)
    path.write_text(text, encoding="utf-8")
    return {path: original}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="defects to try (default: all nine)")
    parser.add_argument("--tests", help="pytest arguments instead of each defect's test files")
    args = parser.parse_args(argv)
    dirty = subprocess.run(["git", "status", "--porcelain", "pdesolve"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    if dirty:
        raise SystemExit("pdesolve/ has uncommitted changes; commit or stash them first")
    chosen = [d for d in DEFECTS if not args.names or d.name in args.names]
    survivors = []
    for defect in chosen:
        originals = apply(defect)
        try:
            tests = shlex.split(args.tests or defect.tests)
            done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                   "-p", "no:randomly", *tests], cwd=ROOT, capture_output=True, text=True)
        finally:
            for path, text in originals.items():
                path.write_text(text, encoding="utf-8")
        failed = re.findall(r"^FAILED (\S+)", done.stdout, flags=re.M)
        tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
        print(f"## {defect.name} ({defect.path}): {'KILLED' if done.returncode else 'SURVIVED'} — {tail}")
        for test in failed[:SHOWN]:
            print(f"   {test}")
        if len(failed) > SHOWN:
            print(f"   ... and {len(failed) - SHOWN} more")
        if done.returncode == 0:
            survivors.append(defect.name)
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} defects killed"
          + (f"; surviving: {', '.join(survivors)}" if survivors else ""))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
