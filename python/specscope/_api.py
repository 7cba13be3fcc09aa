"""`analyze`, `summary`, `predict` and `compare`: the CLI's commands as
functions returning pandas DataFrames with the CLI's CSV columns."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import pandas as pd

from . import _source
from . import _specscope as _engine
from ._options import (
    check_errors,
    engine_options,
    progress_callback,
    report_messages,
)
from ._specscope import SpecscopeError


def _frame(result: Dict[str, Any], rows_key: str) -> pd.DataFrame:
    """The rows of a report as a DataFrame in the CSV's column order; the
    rest of the report (summary, backend, …) in ``df.attrs["report"]``."""
    report = result["report"]
    rows = report.pop(rows_key)
    df = pd.DataFrame.from_records(rows, columns=result["columns"])
    df.attrs["report"] = report
    df.attrs["failures"] = result["failures"]
    df.attrs["notes"] = result["notes"]
    return df


@contextlib.contextmanager
def _init_path(init: Any) -> Iterator[Optional[str]]:
    """``init=``: a path as it is; a mapping or module written to a
    temporary safetensors file for the length of the call (the engine reads
    the init snapshot by path)."""
    if init is None or isinstance(init, (str, os.PathLike)):
        yield None if init is None else os.fspath(init)
        return
    with tempfile.TemporaryDirectory(prefix="specscope-init-") as d:
        path = os.path.join(d, "init.safetensors")
        _engine.write_snapshot(path, _source.resolve(init), {})
        yield path


def analyze(
    source: Any,
    *,
    progress: Any = False,
    errors: str = "warn",
    **options: Any,
) -> pd.DataFrame:
    """Every weight matrix's spectrum and metrics, one row per matrix: the
    columns and numbers of ``specscope analyze --format csv``.

    ``source``: a path (a .safetensors file, a directory of them, a
    ``*.safetensors.index.json``); a mapping name → array (numpy, CPU or GPU
    torch tensors, DLPack or buffer-protocol objects, or a
    ``(uint16 array, "bfloat16")`` pair), read in place without a copy where
    the layout allows; or a ``torch.nn.Module`` (its weight parameters of
    two dimensions and more). The arrays must not be written while the
    call runs.

    Options are the CLI's flags: ``include``, ``exclude`` (regexes),
    ``conv`` ("pooled" | "unfold"), ``preset`` ("default" |
    "weightwatcher"), ``threads``, ``backend`` ("auto" | "cpu" | "gpu"),
    ``adapter``, ``method`` ("auto" | "exact" | "lanczos" | "power" |
    "slq"), ``top_k``, ``tol``, ``slq_probes``, ``slq_steps``, ``init`` (a
    path, mapping or module), ``diffract``, ``diffract_tpl``.

    ``progress=True`` draws a bar (tqdm when installed); a callable gets
    the events. A tensor or matrix that fails is a ``SpecscopeWarning``
    (``errors="warn"``), an exception (``"raise"``) or nothing
    (``"ignore"``); its row keeps the reason in ``error``. The report's
    other parts (``summary``, ``backend``, ``skipped``, ``problems``) are in
    ``df.attrs["report"]``.
    """
    check_errors(errors)
    opts = engine_options(options, "analyze")
    with _init_path(opts["init"]) as init:
        opts["init"] = init
        result = _engine.analyze(
            _source.resolve(source), opts, progress_callback(progress)
        )
    report_messages(result["failures"], result["notes"], errors)
    return _frame(result, "layers")


def summary(source: Any, **options: Any) -> pd.DataFrame:
    """The model-level summary (means of the peer's metrics, counts, the
    theory's density D) as a one-row DataFrame: of a DataFrame returned by
    `analyze` without analysing again, else of ``analyze(source,
    **options)``."""
    if isinstance(source, pd.DataFrame):
        if options:
            raise TypeError("summary() of a DataFrame takes no options")
        report = source.attrs.get("report")
        if not report or "summary" not in report:
            raise SpecscopeError(
                "this DataFrame does not come from specscope.analyze() "
                "(its attrs hold no report)"
            )
        return pd.DataFrame([report["summary"]])
    return pd.DataFrame([analyze(source, **options).attrs["report"]["summary"]])


def predict(
    source: Any,
    *,
    rank: Optional[int] = None,
    sparsity: Optional[float] = None,
    bits: Optional[int] = None,
    group: Optional[int] = None,
    scheme: str = "sym",
    granularity: Optional[str] = None,
    verify: bool = False,
    losses: Optional[Union[str, "os.PathLike[str]"]] = None,
    loss_column: Optional[str] = None,
    progress: Any = False,
    errors: str = "warn",
    **options: Any,
) -> pd.DataFrame:
    """What pruning (``rank`` or ``sparsity``) or quantization (``bits``,
    ``group``, ``scheme`` "sym" | "asym", ``granularity`` "tensor" |
    "channel" | "group") does to every matrix, one row per matrix: the
    columns and numbers of ``specscope predict --format csv``. ``verify``
    compresses each matrix for real and measures. ``losses``: a loss
    curve (CSV with a header, rows in time order) that also gives ΔL in the
    loss's units (``loss_column``, default: the first of val_loss,
    valid_loss, test_loss, loss, train_loss). Sources and the other
    options are `analyze`'s."""
    check_errors(errors)
    opts = engine_options(options, "predict")
    request = {
        "rank": rank,
        "sparsity": sparsity,
        "bits": bits,
        "group": group,
        "scheme": scheme,
        "granularity": granularity,
        "verify": bool(verify),
        "losses": None if losses is None else os.fspath(losses),
        "loss_column": loss_column,
    }
    with _init_path(opts["init"]) as init:
        opts["init"] = init
        result = _engine.predict(
            _source.resolve(source), opts, request, progress_callback(progress)
        )
    report_messages(result["failures"], result["notes"], errors)
    return _frame(result, "rows")


def _snapshot_paths(
    snapshots: Any, steps: Optional[Sequence[Any]], time: str, scratch: str
) -> List[str]:
    """Paths of the series: paths as given, or in-memory snapshots written
    to ``scratch`` with their time in the metadata (the engine's `compare`
    reads snapshots by path, and reads each twice: spectra, then modes)."""
    if isinstance(snapshots, (str, os.PathLike)):
        return [os.fspath(snapshots)]
    snapshots = list(snapshots)
    if all(isinstance(s, (str, os.PathLike)) for s in snapshots):
        return [os.fspath(s) for s in snapshots]
    if steps is None:
        steps = list(range(len(snapshots)))
    if len(steps) != len(snapshots):
        raise SpecscopeError(f"{len(steps)} steps for {len(snapshots)} snapshots")
    paths = []
    for i, (snap, t) in enumerate(zip(snapshots, steps)):
        if isinstance(snap, (str, os.PathLike)):
            raise SpecscopeError("give snapshots as paths or as arrays, not both")
        p = os.path.join(scratch, f"snapshot-{i:06d}.safetensors")
        _engine.write_snapshot(p, _source.resolve(snap), {time: str(t)})
        paths.append(p)
    return paths


def compare(
    snapshots: Union[str, "os.PathLike[str]", Sequence[Any]],
    *,
    steps: Optional[Sequence[Any]] = None,
    losses: Optional[Union[str, "os.PathLike[str]"]] = None,
    loss_column: Optional[str] = None,
    time: str = "step",
    rank: Optional[int] = None,
    b: Optional[float] = None,
    modes: bool = True,
    overlap: Optional[int] = None,
    progress: Any = False,
    errors: str = "warn",
    **options: Any,
) -> pd.DataFrame:
    """The dynamics of a series of snapshots, one row per snapshot and
    matrix: the columns and numbers of ``specscope compare --format csv``
    (k_*(t), D(t), μ_max(t), α(t), b(t)); the per-matrix dynamics (φ, ψ,
    ρ), the model series, the Densing and loss fits are in
    ``df.attrs["report"]``.

    ``snapshots``: a directory, a list of paths, or a list of in-memory
    sources (mappings or modules, as for `analyze`) with their ``steps``
    (default 0, 1, …). ``loss_column`` and ``overlap`` are
    ``--loss-column`` and ``--overlap K``. In-memory snapshots are written to a temporary
    directory, removed on return: `compare` reads every snapshot twice
    (spectra, then the last snapshot's modes in each), by path.
    """
    check_errors(errors)
    opts = engine_options(options, "compare")
    init = opts.pop("init")
    opts["init"] = None
    with tempfile.TemporaryDirectory(prefix="specscope-compare-") as scratch:
        with _init_path(init) as init_path:
            paths = _snapshot_paths(snapshots, steps, time, scratch)
            args = {
                "losses": None if losses is None else os.fspath(losses),
                "loss_column": loss_column,
                "time": time,
                "init": init_path,
                "rank": rank,
                "b": b,
                "modes": bool(modes),
                "overlap": None if overlap is None else int(overlap),
            }
            result = _engine.compare(paths, opts, args, progress_callback(progress))
    report_messages(result["failures"], result["notes"], errors)
    return _frame(result, "series")
