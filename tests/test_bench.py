"""The benchmark runs end to end (at tiny scales) and writes its table."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.real, pytest.mark.slow]


def test_benchmark_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=900,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = out.read_text()
    for figure in ("ingestion / ceiling throughput", "plain LlamaIndex ingestion",
                   "re-ingest", "full extractive answer", "cold start", "Chroma server"):
        assert figure in table, figure
    assert "Machine:" in table and "cores" in table
