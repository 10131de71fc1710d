"""Fuzzing round 3: sweep points that differ only in how a value is written."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from sumsim.errors import InputError
from sumsim.scenario.loader import bundled_text
from sumsim.sweeps import SweepFile, make_sweep

BASE = tomllib.loads(bundled_text("quickstart"))


def _sweep(**spec: Any) -> Any:
    return make_sweep(SweepFile.model_validate({"sweep": {"base": "quickstart"}, **spec}),
                      BASE, Path("."), "sweep.toml")


@pytest.mark.parametrize(("grid", "points"), [
    ({"chain.eth_usd": [1, 1.0]}, []),
    ({"chain.block_time_s": [12, "12"]}, []),
    ({"agents[0].balance": [1, "1"]}, []),
    ({}, [{"agents[0].interval_s": 600}, {"agents[0].interval_s": 600.0}]),
])
def test_points_that_resolve_to_one_scenario_are_refused(grid: dict[str, Any],
                                                         points: list[dict[str, Any]]) -> None:
    """They ran the same runs twice as two points: two identical rows per replicate, which
    `sumsim report --reference` then refused ("finished more than once")."""
    with pytest.raises(InputError, match=r"sweep\.toml: (grid|points): points .* give the same "
                       r"scenario"):
        _sweep(grid=grid, points=points)


def test_distinct_values_still_make_distinct_points() -> None:
    sweep = _sweep(grid={"chain.eth_usd": [1, 1.5, "2"]}, points=[{}, {"chain.block_time_s": 6}])
    assert len(sweep.tasks) == 6


ROW = {"run_id": "r1", "run_index": 0, "status": "ok", "error": "", "metrics": {"x": 1.0}}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_record_or_manifest_holding_nan_is_damaged_not_a_crash_later(
        tmp_path: Path, constant: str) -> None:
    """Python's json reads NaN and Infinity; the manifest is written as strict JSON, so a row
    holding one (a record or manifest edited by hand or another tool) crashed the resumed
    sweep with a traceback when it saved its manifest."""
    import json

    from sumsim.sweep_store import (
        MANIFEST,
        DamagedManifest,
        read_manifest,
        read_records,
        write_record,
    )

    write_record(tmp_path, "fp", ROW)
    record = tmp_path / "records" / "r1.json"
    record.write_text(record.read_text().replace('"x": 1.0', f'"x": {constant}'))
    assert read_records(tmp_path, "fp") == {}  # (skipped like an unreadable one: run again)
    text = json.dumps({"fingerprint": "fp", "runs": [ROW]}).replace("1.0", constant)
    (tmp_path / MANIFEST).write_text(text)
    with pytest.raises(DamagedManifest, match=f"{constant.lstrip('-')} is not a JSON number"):
        read_manifest(tmp_path, "fp")
