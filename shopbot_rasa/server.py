"""shopbot's Rasa server entry point: ``python -m shopbot_rasa.server run ...``.

It is ``python -m rasa`` with shopbot's changes to Rasa 3.6.21 installed
first (see :mod:`shopbot_rasa.patches`). Every way of serving the bot
(``make run``, ``make run-prod``, the tests and benchmarks) starts Rasa
through here, so they all run the same server. Nothing is changed at import:
:func:`main` installs the patches, then hands the arguments to Rasa's own
command line.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from shopbot_rasa import patches


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Install shopbot's patches and run Rasa's command line with ``argv``.

    Args:
        argv: Rasa's arguments (``run --model ...``); ``sys.argv[1:]`` when omitted.
    """
    patches.install()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *(sys.argv[1:] if argv is None else argv)]
    rasa_main()


if __name__ == "__main__":  # pragma: no cover - the command line
    main()
