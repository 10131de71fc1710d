"""The scenario fuzzer: mutated shipped scenarios never hang, never crash, never write nonsense.

Every case (see tests/fuzz_scenarios.py) is validated as ``sumsim validate`` does; what is
accepted is run (shortened by caps on the pool, the test set and the simulated time, with a
wall-clock allowance) and written, and its summary.json must be strict JSON.  The outcome must
be what the CLI turns into exit code 0 (a finished run) or 2 (an InputError: one line naming
the source and the field), never another exception.  A sample of CLI-level cases (FIFOs,
directories, huge or deeply nested files, bad options) runs in subprocesses.

``SUMSIM_SLOW=1`` adds a longer variant (more cases).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import sumsim
from fuzz_scenarios import case
from sumsim.errors import InputError, RunCannotFinish

CASES = 360
SLOW_CASES = 2000
#: Wall-clock allowance of one shortened run (a case that needs more is a finding).
WALL_S = 30.0
ROOT = Path(__file__).parents[1]


def _shortened(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with caps that keep a run short (values a mutation broke are left broken)."""
    d = copy.deepcopy(data)
    sec = d.get("data")
    if isinstance(sec, dict):
        if sec.get("dataset") == "imdb":  # the archive need not be here: synthetic text
            sec["dataset"] = "synthetic"
            sec.pop("path", None)
        for key, cap in (("max_pool", 30), ("max_test", 300)):
            v = sec.get(key)
            if v is None or (type(v) is int and v > cap):
                sec[key] = cap
        syn = sec.get("synthetic")
        if isinstance(syn, dict):
            for key, cap in (("n_train", 3000), ("n_test", 1000), ("n_features", 2000)):
                v = syn.get(key)
                if type(v) in (int, float) and v > cap:
                    syn[key] = cap
    sc = d.get("scenario")
    if isinstance(sc, dict):
        dur = sc.get("duration_s")
        horizon = 60 * 86_400.0
        if type(dur) in (int, float) and dur == dur:
            horizon = max(horizon, float(dur))
        # idle: longer than the default any-address wait (9 days), after which the deposits
        # left unclaimed are taken; the contract owns itself, so nobody takes them earlier
        for key, cap in (("max_duration_s", horizon), ("max_idle_s", 12 * 86_400.0)):
            v = sc.get(key)
            if v is None or (type(v) in (int, float) and v > cap):
                sc[key] = cap
    return d


def _strict_json(path: Path) -> Any:
    def refuse(token: str) -> None:
        raise AssertionError(f"{path} holds {token}: not valid JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def check_case(n: int, tmp_path: Path) -> str:
    """Run fuzz case ``n``; return its outcome ("ok", "rejected", "cannot finish")."""
    name, data, what = case(n)
    where = f"case {n} ({name}: {what})"
    start = time.monotonic()
    try:
        accepted = sumsim.load(data)  # what `sumsim validate` decides
    except InputError as e:
        msg = str(e)
        assert "\n" not in msg and msg.startswith("<dict>: "), f"{where}: {msg!r}"
        assert time.monotonic() - start < 10, f"{where}: validation took too long"
        return "rejected"
    except Exception as e:  # noqa: BLE001 - the finding is the exception itself
        pytest.fail(f"{where}: validation raised {type(e).__name__}: {e}")
    try:
        sc = sumsim.load(_shortened(data))
    except InputError as e:
        pytest.fail(f"{where}: accepted, but not once shortened: {e}")
    assert accepted.scenario.name == sc.scenario.name
    try:
        res = sumsim.run(sc, max_wall_s=WALL_S)
        res.write(tmp_path / "out", figure=False)
    except RunCannotFinish as e:
        assert "\n" not in str(e) and str(e).startswith("scenario.max_"), f"{where}: {e}"
        return "cannot finish"
    except InputError as e:
        pytest.fail(f"{where}: validate accepted it but the run rejected it: {e}")
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"{where}: the run raised {type(e).__name__}: {e}")
    summary = _strict_json(tmp_path / "out" / "summary.json")
    assert summary["contract"]["contributions"] >= 0
    assert time.monotonic() - start < WALL_S + 20, f"{where}: too slow"
    return "ok"


@pytest.mark.parametrize("n", range(CASES), ids=[f"case{n:04d}" for n in range(CASES)])
def test_fuzz_case(n: int, tmp_path: Path) -> None:
    check_case(n, tmp_path)


def test_fuzz_cases_reach_every_outcome(tmp_path: Path) -> None:
    """The mutations are neither all fatal nor all harmless (the fuzzer exercises runs)."""
    outcomes = {}
    for n in range(0, CASES, 12):
        outcomes[n] = check_case(n, tmp_path / str(n))
    assert {"ok", "rejected"} <= set(outcomes.values()), outcomes


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SUMSIM_SLOW"), reason="set SUMSIM_SLOW=1")
@pytest.mark.parametrize("n", range(CASES, SLOW_CASES if os.environ.get("SUMSIM_SLOW")
                                    else CASES + 1))
def test_fuzz_case_long(n: int, tmp_path: Path) -> None:
    check_case(n, tmp_path)


# -- the command line --------------------------------------------------------------------------
def _cli(args: list[str], cwd: Path, timeout: float = 60) -> tuple[int, str, float]:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "sumsim", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stderr, time.monotonic() - start


def _one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def _cli_cases(tmp: Path) -> list[tuple[list[str], tuple[str, ...]]]:
    fifo = tmp / "fifo.toml"
    os.mkfifo(fifo)
    big = tmp / "big.toml"
    big.write_text("x = [" + "1," * 5_000_000 + "]\n", encoding="utf-8")
    deep = tmp / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    latin = tmp / "latin.toml"
    latin.write_bytes(b'[scenario]\nname = "\xe9t\xe9"\n')
    huge = tmp / "huge.toml"
    huge.write_text((ROOT / "scenarios/quickstart.toml").read_text(encoding="utf-8")
                    .replace("balance = 10_000", 'balance = "1e100000000"', 1),
                    encoding="utf-8")
    afile = tmp / "afile"
    afile.write_text("", encoding="utf-8")
    garbage = tmp / "garbage"
    garbage.mkdir()
    (garbage / "results.parquet").write_bytes(os.urandom(2000))
    qs = str(ROOT / "scenarios/quickstart.toml")
    return [
        (["validate", str(fifo)], (str(fifo), "FIFO")),
        (["run", str(fifo), "-q"], (str(fifo), "FIFO")),
        (["run", str(tmp), "-q"], (str(tmp), "directory")),
        (["validate", "/dev/zero"], ("/dev/zero", "regular file")),
        (["validate", str(big)], (str(big), "too large")),
        (["validate", str(deep)], (str(deep), "nested")),
        (["validate", str(latin)], (str(latin), "UTF-8")),
        (["validate", str(huge)], (str(huge), "agents[0].balance", "too large")),
        (["run", qs, "--set", "=1", "-q"], ("--set",)),
        (["run", qs, "--set", "chain.block_time_s.x=1", "-q"], ("chain.block_time_s",)),
        (["run", qs, "--set", "scenario.seed=true", "-q"], ("scenario.seed", "boolean")),
        (["run", qs, "--set", 'scenario.name="../../../x"', "-q"], ("scenario.name",)),
        (["run", qs, "--set", "chain.block_time_s=inf", "-q"], ("chain.block_time_s",)),
        (["run", qs, "--set", "model.learning_rate=0.5", "-q"], ("model.learning_rate",)),
        (["run", qs, "--set", "data.synthetic.n_train=1e10", "-q"], ("n_train",)),
        (["run", qs, "--set", "agents[0].balance=1e39", "-q"], ("agents[0].balance",)),
        (["run", qs, "--set", "chain.gas_price_gwei=1e40", "-q"], ("chain.gas_price_gwei",)),
        (["run", qs, "--set", "metrics.eval_every_s=0.000001", "-q"], ("eval_every_s",)),
        (["run", qs, "--set", 'agents[0].interval_s={dist="constant",value=0}', "-q"],
         ("agents[0].interval_s",)),
        (["run", qs, "--seed", "-1", "-q"], ("--seed",)),
        (["run", qs, "--out", str(afile), "-q"], ("--out", str(afile))),
        (["run", qs, "--data-path", str(tmp), "-q"], ("--data-path", "synthetic")),
        (["run", qs, "--max-wall-s", "0", "-q"], ("--max-wall-s",)),
        (["sweep", qs, "--workers", "-1"], ("--workers",)),
        (["report", str(garbage)], ("results.parquet",)),
    ]


def test_cli_cases_exit_2_with_one_line(tmp_path: Path) -> None:
    cases = _cli_cases(tmp_path)
    for args, fragments in cases:
        code, err, took = _cli(args, tmp_path)
        _one_line_error(code, err, *fragments)
        assert took < 30, (args, took)
    assert not (tmp_path / "sumsim-out").exists()  # nothing written for bad input


def test_cli_runs_of_mutated_files(tmp_path: Path) -> None:
    """A sample of fuzz cases through `sumsim run` itself (with its wall-clock guard)."""
    import tomli_w

    for n in range(0, CASES, 45):
        _, data, what = case(n)
        f = tmp_path / f"case{n}.toml"
        try:
            f.write_text(tomli_w.dumps(_shortened(data)), encoding="utf-8")
        except (TypeError, ValueError):  # not representable in TOML (e.g. a null)
            continue
        code, err, took = _cli(["run", str(f), "-q", "--out", str(tmp_path / f"o{n}"),
                                "--max-wall-s", str(WALL_S)], tmp_path)
        assert code in (0, 2), (n, what, err)
        assert "Traceback" not in err, (n, what, err)
        if code == 2:
            assert len(err.splitlines()) == 1 and err.startswith(str(f)), (n, what, err)
        assert took < WALL_S + 30, (n, what)
