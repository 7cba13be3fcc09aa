"""The `specscope` command the wheel installs is the CLI: help, version,
exit codes."""

from __future__ import annotations

import subprocess
import sys

import specscope

from conftest import run_cli


def test_version_and_help():
    out = run_cli("--version")
    assert out.stdout.strip() == f"specscope {specscope.__version__}"
    assert "analyze" in run_cli("--help").stdout


def test_exit_codes():
    bad = run_cli("analyze", "/nonexistent.safetensors", check=False)
    assert bad.returncode == 2
    assert "no such file" in bad.stderr
    usage = run_cli("analyze", check=False)
    assert usage.returncode == 2 and "Usage" in usage.stderr


def test_python_dash_m():
    out = subprocess.run(
        [sys.executable, "-m", "specscope", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "specscope" in out.stdout
