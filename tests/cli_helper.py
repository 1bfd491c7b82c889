"""Running the `pipeline-sim` command line in a subprocess, as a user would (no colours)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli(cwd: Path, *args: str, timeout: float = 300, columns: int = 120) -> subprocess.CompletedProcess:
    """The command in a terminal of `columns` columns, without colours."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "COLUMNS")}
    env.update(NO_COLOR="1", TERM="dumb", COLUMNS=str(columns))
    return subprocess.run(
        [sys.executable, "-m", "pipeline_sim.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
