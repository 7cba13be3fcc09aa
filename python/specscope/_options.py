"""The CLI's flags as keyword options, progress display, and how failures
and notes reach the caller."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings
from typing import Any, Callable, Dict, List, Optional

from ._specscope import SpecscopeError

log = logging.getLogger("specscope")


class SpecscopeWarning(UserWarning):
    """A tensor, matrix or file that could not be analysed; the run went on."""


#: The options every engine call takes, with the CLI's defaults. Names are
#: the flags' (``--top-k`` → ``top_k``).
ENGINE_DEFAULTS: Dict[str, Any] = {
    "include": None,
    "exclude": None,
    "conv": "pooled",
    "preset": "default",
    "threads": None,
    "backend": "auto",
    "adapter": None,
    "method": "auto",
    "top_k": 32,
    "tol": 1e-6,
    "slq_probes": 32,
    "slq_steps": 40,
    "init": None,
    "diffract": False,
    "diffract_tpl": False,
}


def engine_options(options: Dict[str, Any], caller: str) -> Dict[str, Any]:
    """Every engine option, the given ones over the defaults; an unknown
    name is a TypeError, as for any Python function."""
    unknown = sorted(set(options) - set(ENGINE_DEFAULTS))
    if unknown:
        raise TypeError(
            f"{caller}() got unexpected option(s) {', '.join(unknown)}; "
            f"options: {', '.join(ENGINE_DEFAULTS)}"
        )
    out = dict(ENGINE_DEFAULTS)
    out.update(options)
    if out["init"] is not None:
        out["init"] = os.fspath(out["init"])
    if out["backend"] != "cpu":
        runtime_dir()
    return out


_runtime_dir: Optional[tempfile.TemporaryDirectory] = None


def runtime_dir() -> None:
    """Gives the Vulkan loader a private runtime directory when the process
    has none (it prints an error on every adapter probe otherwise), as the
    CLI does. Set before the engine's first GPU probe."""
    global _runtime_dir
    d = os.environ.get("XDG_RUNTIME_DIR")
    if (d and os.path.isdir(d)) or _runtime_dir is not None:
        return
    _runtime_dir = tempfile.TemporaryDirectory(prefix="specscope-runtime-")
    os.environ["XDG_RUNTIME_DIR"] = _runtime_dir.name


class _Bar:
    """tqdm when installed, else one line on stderr rewritten in place."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.total = 0
        self.done = 0

    def __call__(self, event: str, *args: Any) -> None:
        if event == "start":
            self.total, self.done = int(args[0]), 0
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=self.total, unit="matrix", desc="specscope")
            except ImportError:
                self.bar = None
                self._line()
        elif event == "done":
            self.done += 1
            if self.bar is not None:
                self.bar.update(1)
            else:
                self._line()
        elif event == "finish":
            if self.bar is not None:
                self.bar.close()
            else:
                sys.stderr.write("\n")
                sys.stderr.flush()

    def _line(self) -> None:
        sys.stderr.write(f"\rspecscope: {self.done}/{self.total} matrices")
        sys.stderr.flush()


def progress_callback(progress: Any) -> Optional[Callable[..., None]]:
    """``progress=True``: a bar; a callable: called as
    ``callback("start", matrices, bytes)``, ``callback("done", name, bytes)``,
    ``callback("finish")``; else none."""
    if progress is True:
        return _Bar()
    if callable(progress):
        return progress
    if progress in (False, None):
        return None
    raise TypeError("progress must be True, False or a callable")


def report_messages(failures: List[str], notes: List[str], errors: str) -> None:
    """Failures as the CLI prints them on stderr: a warning each (default),
    one exception (``errors="raise"``), or nothing (``"ignore"``). Notes go
    to the ``specscope`` logger at INFO."""
    for n in notes:
        log.info("%s", n)
    if not failures or errors == "ignore":
        return
    if errors == "raise":
        raise SpecscopeError("\n".join(failures))
    for f in failures:
        warnings.warn(f, SpecscopeWarning, stacklevel=3)


def check_errors(errors: str) -> None:
    if errors not in ("warn", "raise", "ignore"):
        raise ValueError(f"errors={errors!r}: expected 'warn', 'raise' or 'ignore'")
