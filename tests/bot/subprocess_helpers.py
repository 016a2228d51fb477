"""Running Python in a fresh interpreter from the project root, for import-time checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List

#: The repository root (the fresh interpreter's working folder and PYTHONPATH).
REPO = Path(__file__).resolve().parents[2]


def run_python(arguments: List[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with ``arguments`` in a clean environment.

    Args:
        arguments: What follows ``python`` (``["-c", code]`` or ``["-m", ...]``).
        timeout: Seconds before the run is abandoned.

    Returns:
        The finished process, output captured as text.
    """
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
