"""The ``specscope`` command installed with the package: the CLI itself,
run through the extension (the same code as the ``specscope`` binary that
``cargo install`` builds; exit codes as there)."""

from __future__ import annotations

import signal
import sys

from . import _specscope
from ._options import runtime_dir


def main() -> None:
    # Ctrl-C ends the run at once, as it does the binary (the engine does
    # not return to Python until it is done).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    runtime_dir()
    sys.stdout.flush()
    sys.exit(_specscope.cli(["specscope", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
