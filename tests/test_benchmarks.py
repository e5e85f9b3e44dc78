"""The benchmark entry point runs end to end in --quick mode and writes every section."""
import importlib.util
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS = ("## Machine", "## Numba compilation", "## 1. Roofline", "## 2. Interaction overhead",
            "## 3. Scaling", "## 4. Peers", "## 5. Particles", "## Summary against the targets")


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory) -> str:
    """RESULTS.md text of one ``bench.py --quick`` run."""
    output = tmp_path_factory.mktemp("bench") / "R.md"
    subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench.py"), "--quick",
                    "--output", str(output)], check=True, capture_output=True, timeout=120)
    return output.read_text()


def test_quick_benchmark_writes_every_section(quick_report):
    text = quick_report
    positions = [text.find(section) for section in SECTIONS]
    assert all(p >= 0 for p in positions), [s for s, p in zip(SECTIONS, positions) if p < 0]
    assert positions == sorted(positions)
    assert "fraction of same-footprint bound" in text and "step / (evals × pair)" in text
    assert "Fitted exponents" in text
    fractions = [float(x) for x in re.findall(r"\| (\d+\.\d)%(?= \|)", text)]
    assert len(fractions) == 3 * 2 * 2 * 2  # grids × orders × thread counts × two bounds
    assert max(fractions) > 0.0
    assert "nan" not in text.lower().split("## machine")[1]


def test_quick_benchmark_compares_every_importable_peer(quick_report):
    peers_text = quick_report.split("## 4. Peers")[1].split("## 5. Particles")[0]
    for module, code in (("pde", "py-pde"), ("fipy", "fipy")):
        if importlib.util.find_spec(module) is None:
            assert f"- {code}: not importable" in peers_text
            continue
        row = next(line for line in peers_text.splitlines() if line.startswith(f"| {code} |"))
        error = float(row.strip("|").split("|")[-1])
        assert 0.0 < error < 0.5


def particle_rows(text: str, header_start: str) -> list[list[str]]:
    """Cells of the rows of the first table whose header starts with ``header_start``."""
    lines = text.split("## 5. Particles")[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_quick_benchmark_particle_tables(quick_report):
    text = quick_report
    pairs = particle_rows(text, "| n | threads | DirectInteraction ms")
    assert len(pairs) == 2 and all(float(row[3]) > 0 and float(row[8]) > 0 for row in pairs)
    mesh = particle_rows(text, "| n | threads | MeshInteraction.evaluate ms")
    assert len(mesh) == 2 * 2 and all(float(row[4]) > 0 for row in mesh)
    assert len(particle_rows(text, "| quantity | threads | p (all n)")) == 2 * 2
    assert len(particle_rows(text, "| n | kill/clone events per particle")) == 2
    summary = text.split("## Summary against the targets")[1]
    assert "direct pair sum" in summary and "particle–mesh step" in summary
    assert "particle–mesh linearity" in summary


def test_the_load_study_writes_both_conditions(tmp_path):
    """``thread_load.py`` (a few steps only) writes its table: three configurations, unloaded
    and loaded, positive step times and the two ratios."""
    output = tmp_path / "T.md"
    subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "thread_load.py"), "--steps", "5",
                    "--repeats", "1", "--out", str(output)], check=True, capture_output=True, timeout=300,
                   cwd=os.path.join(ROOT, "benchmarks"))
    rows = [line for line in output.read_text().splitlines()
            if line.startswith("| unloaded") or line.startswith(f"| {os.cpu_count()} busy loops")]
    assert len(rows) == 2
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) == 6 and all(float(c.removesuffix(" ms")) > 0 for c in cells[1:])


def test_the_sweep_overhead_study_writes_its_table(tmp_path):
    """``sweep_overhead.py`` (two tiny tasks, one repeat) writes every row with a time."""
    pytest.importorskip("distributed", reason="the sweep extra is not installed")
    output = tmp_path / "S.md"
    subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "sweep_overhead.py"), "--tasks", "2",
                    "--cells", "50", "--t-end", "0.05", "--repeats", "1", "--pairs", "2", "--out", str(output)],
                   check=True, capture_output=True, timeout=300, cwd=os.path.join(ROOT, "benchmarks"))
    rows = [line for line in output.read_text().splitlines() if line.startswith("| ") and " s |" in line]
    assert len(rows) == 5   # the in-task row is a ratio
    assert "speed-up from 1 to 2 workers" in output.read_text()


def test_the_jax_benchmark_writes_every_row(tmp_path):
    """``gpu.py --quick`` (tiny sizes, on JAX's CPU device here) writes the five rows with
    positive times, speed-ups and, for the bandwidth row, a fraction of the device triad."""
    pytest.importorskip("jax")
    output = tmp_path / "J.md"
    subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu.py"), "--quick",
                    "--output", str(output)], check=True, capture_output=True, timeout=300,
                   cwd=os.path.join(ROOT, "benchmarks"))
    text = output.read_text()
    assert "- JAX device: cpu" in text or "- JAX device: gpu" in text
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| what")]
    assert [row[0] for row in rows] == ["2-D step with K", "3-D step with K", "4 runs, one batched step",
                                        "particle step (mesh K, Algorithm 1)",
                                        "step without K (bandwidth)"]
    assert rows[3][1] == "10,000 on 32×32"
    assert all(float(row[2]) > 0 and float(row[3]) > 0 and float(row[4]) > 0 for row in rows)
    assert rows[-1][7].endswith("%") and float(rows[-1][7][:-1]) > 0


def test_the_implicit_diffusion_benchmark_writes_both_tables(tmp_path):
    """``implicit_diffusion.py --quick`` (grids 8× coarser) writes, per problem, the five runs
    and the implicit floor; the implicit runs with a fixed Δt reach the target."""
    output = tmp_path / "I.md"
    subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "implicit_diffusion.py"), "--quick",
                    "--out", str(output)], check=True, capture_output=True, timeout=300,
                   cwd=os.path.join(ROOT, "benchmarks"))
    sections = output.read_text().split("\n## ")[1:]
    assert len(sections) == 2
    for section in sections:
        rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| scheme")]
        assert [row.split("|")[1].split(",")[0].strip() for row in rows] == ["explicit"] * 2 + ["implicit"] * 3
        assert all(" s |" in row and "not reached" not in row for row in rows[3:])
        assert "implicit floor" in section
