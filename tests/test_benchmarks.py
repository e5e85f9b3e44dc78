"""The benchmark entry point runs end to end in --quick mode and writes every section."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS = ("## Machine", "## Numba compilation", "## 1. Roofline", "## 2. Interaction overhead",
            "## 3. Scaling", "## 4. Peers", "## Summary against the targets")


def test_quick_benchmark_writes_every_section(tmp_path):
    output = tmp_path / "R.md"
    subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench.py"), "--quick",
                    "--output", str(output)], check=True, capture_output=True, timeout=120)
    text = output.read_text()
    positions = [text.find(section) for section in SECTIONS]
    assert all(p >= 0 for p in positions), [s for s, p in zip(SECTIONS, positions) if p < 0]
    assert positions == sorted(positions)
    assert "fraction of bound" in text and "step / (evals × pair)" in text
    assert "Fitted exponents" in text
    fractions = [float(x) for x in re.findall(r"\| (\d+\.\d)%(?= \|)", text)]
    assert len(fractions) == 3 * 2 * 2 * 2  # grids × orders × thread counts × two byte counts
    assert max(fractions) > 0.0
    assert "nan" not in text.lower().split("## machine")[1]
