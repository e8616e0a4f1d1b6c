"""Two app processes pointed at one Chroma server both see a file ingested by either."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.real, pytest.mark.slow]


def _qa(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def test_two_processes_share_one_chroma_server(chroma_server: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_", "OPENAI_"))}
    env.update(QA_CHROMA_URL=chroma_server, QA_COLLECTION="replicas")
    first_dir, second_dir = tmp_path / "replica-a", tmp_path / "replica-b"
    first_dir.mkdir()
    second_dir.mkdir()
    a = first_dir / "kazakh.txt"
    a.write_text("Kazakhstan buys fighters\n\nKazakhstan bought 12 Su-30SM fighters from Russia "
                 "in March 2015, the defence ministry said.\n")
    b = second_dir / "armenia.txt"
    b.write_text("Armenia buys launchers\n\nArmenia bought 10 Iskander launchers from Russia in "
                 "2016, officials in Yerevan said.\n")
    # process 1 ingests a file; process 2 (another "replica") answers from it
    assert _qa(env, first_dir, "ingest", str(a)).returncode == 0
    seen = _qa(env, second_dir, "ask", "--json", "How many Su-30SM fighters did Kazakhstan buy?")
    data = json.loads(seen.stdout)
    assert data["answered"] and "12" in data["answer"]
    assert data["citations"][0]["source"] == "kazakh.txt"
    # and the other way round
    assert _qa(env, second_dir, "ingest", str(b)).returncode == 0
    back = json.loads(_qa(env, first_dir, "ask", "--json",
                          "How many Iskander launchers did Armenia buy?").stdout)
    assert back["answered"] and "10" in back["answer"]
    listed = _qa(env, first_dir, "files").stdout
    assert "kazakh.txt" in listed and "armenia.txt" in listed
