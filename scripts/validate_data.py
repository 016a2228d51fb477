"""`rasa data validate`, strict: any warning fails, with one exception.

Rasa warns about responses that no story or rule uses; responses that a custom
action or a channel dispatches are used, just not by a story. This script
accepts exactly those: names that appear as string literals in ``actions/``,
``shopbot_rasa/`` or ``bot/conversation.py`` (the dialogue's responses). Any other
warning, or a non-zero exit of Rasa, fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNUSED = re.compile(r"The utterance '(utter_\w+)' is not used in any story or rule\.")
WARNING = re.compile(r"(UserWarning|WARNING|Warning:)")


def action_responses() -> set[str]:
    """Return the response names that the custom actions and channels dispatch."""
    names: set[str] = set()
    paths = [
        *(ROOT / "actions").rglob("*.py"),
        *(ROOT / "shopbot_rasa").rglob("*.py"),
        ROOT / "bot" / "conversation.py",
    ]
    for path in paths:
        names.update(re.findall(r"[\"'](utter_\w+)[\"']", path.read_text(encoding="utf-8")))
    return names


def main() -> int:
    """Run the validation; return an exit code."""
    result = subprocess.run(
        [sys.executable, "-m", "rasa", "data", "validate", "--fail-on-warnings"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONWARNINGS": "ignore::DeprecationWarning", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    output = result.stdout + result.stderr
    dispatched = action_responses()
    problems = []
    for line in output.splitlines():
        unused = UNUSED.search(line)
        if unused:
            if unused.group(1) not in dispatched:
                problems.append(f"response {unused.group(1)} is used by no story, rule or action")
        elif WARNING.search(line) and "Deprecat" not in line and "pkg_resources" not in line:
            problems.append(line.strip())
    if result.returncode != 0:
        problems.append(f"rasa data validate exited {result.returncode}")
    for problem in problems:
        print(f"validate: {problem}", file=sys.stderr)
    if problems:
        print(output[-3000:], file=sys.stderr)
        return 1
    print(f"rasa data validate: clean ({len(dispatched)} responses used by actions, channels)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
