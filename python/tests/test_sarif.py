"""`specscope check --sarif` output validated against the OASIS SARIF 2.1.0
JSON schema (fixtures/sarif/sarif-schema-2.1.0.json, fetched and
digest-checked by fixtures/sarif/fetch.sh) with the `jsonschema` package's
Draft 7 validator, formats included. The run has failures (level error,
kind fail) and skipped checks (kind notApplicable), so both result shapes
are validated."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from conftest import REPO, run_cli

RULES = """
[[rule]]
name = "alpha-cap"
kind = "range"
metric = "alpha"
max = 2.0

[[rule]]
name = "b-known"
kind = "range"
metric = "b"
min = 0.0
missing = "skip"
"""


def test_check_sarif_is_valid_sarif_2_1_0(tmp_path: Path):
    schema = json.loads(
        (REPO / "fixtures" / "sarif" / "sarif-schema-2.1.0.json").read_text()
    )
    jsonschema.Draft7Validator.check_schema(schema)
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    out = tmp_path / "check.sarif"
    run = run_cli(
        "check",
        str(REPO / "fixtures" / "tiny" / "model.safetensors"),
        "--backend",
        "cpu",
        "-q",
        "--config",
        str(rules),
        "--sarif",
        str(out),
        check=False,
    )
    assert run.returncode == 1, run.stderr
    doc = json.loads(out.read_text())
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(doc)
    ]
    assert errors == [], "\n".join(errors)
    kinds = {r["kind"] for r in doc["runs"][0]["results"]}
    assert kinds == {"fail", "notApplicable"}, kinds


def test_schema_rejects_a_broken_log(tmp_path: Path):
    """The validator is live: a log without `runs` and with a result level
    outside the enumeration is rejected."""
    schema = json.loads(
        (REPO / "fixtures" / "sarif" / "sarif-schema-2.1.0.json").read_text()
    )
    validator = jsonschema.Draft7Validator(schema)
    assert not validator.is_valid({"version": "2.1.0"})
    bad = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "x"}},
                "results": [{"message": {"text": "m"}, "level": "fatal"}],
            }
        ],
    }
    assert not validator.is_valid(bad)
