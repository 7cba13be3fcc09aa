"""`Tracker`: spectra of a model's weights during training, computed in a
background thread while the loop goes on.

Every ``every`` steps the tracker copies the weights (the loop changes
them right after) and hands the copy to one worker thread through a
bounded queue. The worker analyses each copy in place (``history()``: one
DataFrame row per matrix and step) and writes it, once, as a safetensors
file with its step in the metadata into the tracker's directory, which
``compare()`` reads: the engine's `compare` reads snapshots by path (twice:
spectra, then the last snapshot's modes in each). The directory is a
temporary one, removed by ``close()``, unless ``directory=`` names one.

Memory is bounded: at most ``queue_size`` copies wait in the queue and one
is being worked on, so the tracker holds at most ``queue_size + 1`` copies
of the weights (plus the one being made). When the queue is full,
``policy="block"`` (default) makes the training step wait for the worker;
``policy="drop"`` drops that snapshot instead, counts it in ``dropped``
and warns once.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
import warnings
from typing import Any, List, Optional

import pandas as pd

from . import _source
from . import _specscope as _engine
from ._api import analyze, compare
from ._options import SpecscopeWarning, engine_options


class Tracker:
    """Analyse ``source`` every ``every`` steps, in the background.

    ``source``: a ``torch.nn.Module``, a mapping name → array whose arrays
    the loop updates in place, or a callable returning either (called at
    each snapshot). Engine options (``include``, ``threads``, ``backend``,
    …) are `analyze`'s; ``threads`` bounds the engine's worker threads, so
    the analysis leaves the other cores to training (default: all).

    ``history=False`` skips the per-step analysis (only snapshots for
    ``compare()`` are written); ``snapshots=False`` writes none (only
    ``history()``).

    Use as a context manager, or call ``close()``::

        with specscope.Tracker(model, every=500, threads=2) as tr:
            for step, batch in enumerate(loader):
                ...
                optimizer.step()
                tr.step(step)
            dynamics = tr.compare()
        history = tr.history()
    """

    def __init__(
        self,
        source: Any,
        every: int = 100,
        *,
        directory: Optional[str] = None,
        queue_size: int = 2,
        policy: str = "block",
        history: bool = True,
        snapshots: bool = True,
        **options: Any,
    ) -> None:
        if every < 1:
            raise ValueError("every must be at least 1")
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        if policy not in ("block", "drop"):
            raise ValueError("policy must be 'block' or 'drop'")
        engine_options(options, "Tracker")  # unknown names fail here, not in the worker
        self.source = source
        self.every = every
        self.policy = policy
        self.options = options
        self._analyse = history
        self._write = snapshots
        self._owned: Optional[tempfile.TemporaryDirectory] = None
        if directory is None:
            self._owned = tempfile.TemporaryDirectory(prefix="specscope-tracker-")
            directory = self._owned.name
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        #: Snapshots dropped because the queue was full (``policy="drop"``).
        self.dropped = 0
        #: Steps whose snapshot was taken, in order.
        self.steps: List[int] = []
        #: (step, message) of each tensor or matrix that failed.
        self.failures: List[Any] = []
        self._count = 0
        self._frames: List[pd.DataFrame] = []
        self._paths: List[str] = []
        self._error: Optional[BaseException] = None
        self._queue: "queue.Queue[Any]" = queue.Queue(maxsize=queue_size)
        self._worker = threading.Thread(
            target=self._run, name="specscope-tracker", daemon=True
        )
        self._worker.start()
        self._closed = False

    # --- the training loop's side ------------------------------------

    def step(self, step: Optional[int] = None) -> bool:
        """Counts a training step (or takes ``step`` as its number) and
        snapshots when it is a multiple of ``every``. True when a snapshot
        was queued."""
        self._raise_worker_error()
        if step is None:
            step = self._count
            self._count += 1
        if step % self.every != 0:
            return False
        return self.snapshot(step)

    def snapshot(self, step: int) -> bool:
        """Copies the weights now and queues them as ``step``."""
        self._raise_worker_error()
        if self._closed:
            raise RuntimeError("the tracker is closed")
        src = (
            self.source()
            if callable(self.source) and not _source.is_module(self.source)
            else self.source
        )
        item = (int(step), _source.copy_of(src))
        if self.policy == "block":
            self._queue.put(item)
        else:
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                self.dropped += 1
                if self.dropped == 1:
                    warnings.warn(
                        f"specscope.Tracker: snapshot at step {step} dropped, the "
                        "analysis is behind (policy='drop'); see tracker.dropped",
                        SpecscopeWarning,
                        stacklevel=2,
                    )
                return False
        self.steps.append(int(step))
        return True

    # --- results -------------------------------------------------------

    def wait(self) -> None:
        """Blocks until every queued snapshot is analysed and written."""
        self._queue.join()
        self._raise_worker_error()

    def history(self) -> pd.DataFrame:
        """Every analysed snapshot's rows (`analyze`'s columns after a
        ``step`` column), after waiting for the queue."""
        self.wait()
        if not self._frames:
            return pd.DataFrame()
        return pd.concat(self._frames, ignore_index=True)

    def compare(self, **options: Any) -> pd.DataFrame:
        """`compare` over the snapshots written so far (time axis: step),
        after waiting for the queue. Options are `compare`'s; the tracker's
        engine options apply unless given again."""
        self.wait()
        if not self._paths:
            raise RuntimeError(
                "no snapshot written (snapshots=False, or no step reached)"
            )
        merged = dict(self.options)
        merged.update(options)
        return compare(list(self._paths), time="step", **merged)

    def close(self) -> None:
        """Finishes the queued work, stops the worker and removes the
        temporary directory (a ``directory=`` given is kept)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._worker.join()
        if self._owned is not None:
            self._owned.cleanup()
            self._paths = []
        self._raise_worker_error()

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- the worker ----------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    self._process(*item)
            except BaseException as e:  # handed to the loop's next call
                self._error = e
            finally:
                self._queue.task_done()

    def _process(self, step: int, arrays: List[Any]) -> None:
        if self._analyse:
            # The copies, read in place (bfloat16 as its pair form).
            named = {n: (a, d) if d else a for n, a, d in arrays}
            df = analyze(named, errors="ignore", **self.options)
            self.failures.extend((step, f) for f in df.attrs["failures"])
            df.insert(0, "step", step)
            self._frames.append(df)
        if self._write:
            path = os.path.join(self.directory, f"step-{step:010d}.safetensors")
            _engine.write_snapshot(path, arrays, {"step": str(step)})
            self._paths.append(path)

    def _raise_worker_error(self) -> None:
        if self._error is not None:
            e, self._error = self._error, None
            raise e
