"""Shared fixtures: the real checkpoints (skipped with the reason when
absent, failed when SPECSCOPE_REQUIRE_CHECKPOINTS=1), the CLI to compare
against, and a plain safetensors reader (tensors into memory without the
engine, so the in-memory path is checked against the file path)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _checkpoint(rel: str) -> Path:
    root = Path(
        os.environ.get("SPECSCOPE_CHECKPOINTS", REPO / ".cache" / "checkpoints")
    )
    path = root / rel
    if not path.is_file():
        why = (
            f"SKIPPED: {path} is missing (run scripts/fetch-checkpoints.sh or "
            "set SPECSCOPE_CHECKPOINTS)"
        )
        if os.environ.get("SPECSCOPE_REQUIRE_CHECKPOINTS") == "1":
            pytest.fail(
                why.replace("SKIPPED: ", "") + " and SPECSCOPE_REQUIRE_CHECKPOINTS=1"
            )
        print(why)
        pytest.skip(why)
    return path


@pytest.fixture(scope="module")
def minilm() -> Path:
    return _checkpoint("minilm/model.safetensors")


def cli_command() -> List[str]:
    """The CLI to compare against: $SPECSCOPE_BIN (a cargo-built binary),
    else the `specscope` command the wheel installs."""
    exe = os.environ.get("SPECSCOPE_BIN") or shutil.which("specscope")
    if not exe:
        pytest.fail("no specscope command: set SPECSCOPE_BIN or install the wheel")
    return [exe]


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cli_command(), *args], capture_output=True, text=True, check=check
    )


def cli_json(*args: str) -> Dict[str, Any]:
    out = run_cli(*args, "--format", "json", "--quiet")
    return json.loads(out.stdout)


_NUMPY = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "BF16": "<u2",
    "I64": "<i8",
    "I32": "<i4",
    "U8": "|u1",
    "BOOL": "|b1",
}


def load_safetensors(path: Path) -> Dict[str, Any]:
    """Every tensor of a safetensors file as a numpy array over one bytes
    object read from disk (bfloat16 as a (uint16, "bfloat16") pair)."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    out: Dict[str, Any] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dt = np.dtype(_NUMPY[info["dtype"]])
        arr = np.frombuffer(
            data, dtype=dt, count=(end - start) // dt.itemsize, offset=8 + n + start
        ).reshape(info["shape"])
        out[name] = (arr, "bfloat16") if info["dtype"] == "BF16" else arr
    return out


def same(a: Any, b: Any) -> bool:
    """Equal values, a DataFrame's NaN/None standing for JSON's null."""

    def empty(v: Any) -> bool:
        return v is None or (isinstance(v, float) and np.isnan(v))

    if empty(a) or empty(b):
        return empty(a) and empty(b)
    if isinstance(a, (bool, np.bool_)) or isinstance(b, bool):
        return bool(a) == bool(b)
    if isinstance(b, (int, float)):
        return float(a) == float(b)  # exact: the same f64
    return str(a) == str(b)


def assert_rows_match(df: Any, rows: List[Dict[str, Any]], skip=()) -> int:
    """Every field of every JSON row equals the DataFrame's; returns the
    number of values compared."""
    assert len(df) == len(rows)
    compared = 0
    for i, row in enumerate(rows):
        for col, want in row.items():
            if col in skip:
                continue
            got = df.iloc[i][col]
            assert same(got, want), (
                f"row {i} ({row.get('name')}) column {col}: {got!r} != {want!r}"
            )
            compared += 1
    return compared
