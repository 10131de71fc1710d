"""The third-party plug-in packages in examples/: installed with pip (into a private target
folder, so the test environment is left alone), found through their entry points, listed with
their distribution's name, and run; the mechanism example passes sumsim.testing and a planted
bug in a copy of it is caught; the defense example trains on nobody's data before a refund."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples"
PACKAGES = ("sumsim-mirror", "sumsim-logistic", "sumsim-flat-deposit", "sumsim-probation")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example packages pip-installed into a folder of their own."""
    target = tmp_path_factory.mktemp("site")
    # Build from private copies: setuptools writes build/ and *.egg-info into the source
    # folder, and parallel test workers installing from the same folder would collide.
    sources = tmp_path_factory.mktemp("sources")
    for p in PACKAGES:
        shutil.copytree(EXAMPLES / p, sources / p,
                        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
           str(target), *(str(sources / p) for p in PACKAGES)]
    try:
        import setuptools  # noqa: F401

        cmd.insert(4, "--no-build-isolation")  # build offline with the installed setuptools
    except ImportError:
        pass
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return target


def sumsim(site: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "sumsim", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def test_plugins_lists_each_example_with_its_distribution(site: Path) -> None:
    out = sumsim(site, "plugins")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for kind, dist in (("mirror", "sumsim-mirror"), ("int_logistic", "sumsim-logistic"),
                       ("flat_deposit", "sumsim-flat-deposit"),
                       ("probation", "sumsim-probation")):
        row = next(ln for ln in lines if ln.split()[:1] == [kind])
        assert row.endswith(f"[{dist}]"), row


def run_example(site: Path, package: str, tmp: Path) -> Path:
    out = tmp / package
    res = sumsim(site, "run", str(EXAMPLES / package / "scenario.toml"), "--out", str(out),
                 "-q")
    assert res.returncode == 0, res.stderr
    return out


def test_mirror_attacker_answers_honest_data_with_the_other_label(site: Path,
                                                                 tmp_path: Path) -> None:
    out = run_example(site, "sumsim-mirror", tmp_path)
    c = pl.read_parquet(out / "contributions.parquet")
    honest = c.filter(pl.col("author") == "good")
    mirrored = c.filter(pl.col("author") == "mirror")
    assert mirrored.height > 20
    # each mirror contribution repeats an earlier honest one's features with the other label
    tx = pl.read_parquet(out / "transactions.parquet")
    assert tx.filter(pl.col("sender") == "mirror")["method"].unique().to_list() != []
    pairs = mirrored.join(honest, on="n_features", suffix="_h").filter(
        (pl.col("id_h") < pl.col("id")) & (pl.col("label_h") != pl.col("label")))
    assert pairs["id"].n_unique() == mirrored.height
    summary = json.loads((out / "summary.json").read_text())
    assert summary["agents"]["mirror"]["attacker"] is True
    assert summary["agents"]["mirror"]["unexplained_wei"] == 0


def test_logistic_model_runs_and_learns(site: Path, tmp_path: Path) -> None:
    out = run_example(site, "sumsim-logistic", tmp_path)
    assert 'kind = "int_logistic"' in (out / "scenario.toml").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accuracy"]["baseline_all_data"] > 0.7
    assert summary["accuracy"]["time_avg"] > 0.6
    assert all(a["unexplained_wei"] == 0 for a in summary["agents"].values())


def test_flat_deposit_mechanism_charges_one_price(site: Path, tmp_path: Path) -> None:
    out = run_example(site, "sumsim-flat-deposit", tmp_path)
    c = pl.read_parquet(out / "contributions.parquet")
    assert c.height > 100
    assert c["deposit_wei"].cast(pl.Int128).unique().to_list() == [5 * 10**18]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["incentive"]["kind"] == "flat_deposit"
    assert summary["contract"]["unexplained_wei"] == 0


def test_probation_defense_trains_on_no_address_before_its_first_refund(
        site: Path, tmp_path: Path) -> None:
    out = run_example(site, "sumsim-probation", tmp_path)
    tx = pl.read_parquet(out / "transactions.parquet")
    c = pl.read_parquet(out / "contributions.parquet")
    first_refund = dict(tx.filter((pl.col("method") == "refund") & (pl.col("status") == "success"))
                        .group_by("sender").agg(pl.col("time_s").min()).iter_rows())
    assert set(first_refund) == {"good", "bad"}
    for author, added, status in c.select("author", "added_s", "status").iter_rows():
        refunded_at = first_refund[author]
        if added < refunded_at:
            assert status == "untrained", (author, added, refunded_at)
        elif added > refunded_at:
            assert status == "accepted", (author, added, refunded_at)
    summary = json.loads((out / "summary.json").read_text())
    section = summary["defenses"]["probation"]
    untrained = c.filter(pl.col("status") == "untrained")
    assert section["untrained_honest"] == untrained.filter(pl.col("author") == "good").height > 0
    assert section["untrained_attacker"] == untrained.filter(pl.col("author") == "bad").height > 0
    assert section["verdicts"] == {"accept_without_training": untrained.height}
    ts = pl.read_parquet(out / "timeseries.parquet")
    assert ts["probation_untrained"].to_list()[-1] == untrained.height
    assert all(a["unexplained_wei"] == 0 for a in summary["agents"].values())


def test_probation_keeps_the_fund_invariants(site: Path) -> None:
    res = sumsim(site, "invariants", "--mechanism", "deposit_refund_take", "--defense",
                 "probation", "--examples", "30")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "all invariants held" in res.stdout.splitlines()[0]


HARNESS = textwrap.dedent("""
    import importlib.util, sys
    from pathlib import Path
    from sumsim.testing import check
    import sumsim_flat_deposit as original

    planted = {planted!r}
    cls = None
    if planted:
        src = Path(original.__file__).read_text()
        assert planted[0] in src
        spec = importlib.util.spec_from_loader("flat_copy", loader=None)
        copy = importlib.util.module_from_spec(spec)
        sys.modules["flat_copy"] = copy
        exec(compile(src.replace(*planted), "flat_copy.py", "exec"), copy.__dict__)
        cls = copy.FlatDeposit
    report = check({{"kind": "flat_deposit", "deposit": "2"}}, examples=150,
                   mechanism_class=cls, coverage=not planted, shrink=False)
    print("OK" if report.ok else "FAILED")
    if not planted:
        print("MISSED", report.missed("check_add", "check_refund", "check_report"))
    print(report.failure)
""")


def test_flat_deposit_passes_the_invariant_harness(site: Path) -> None:
    res = sumsim(site, code=HARNESS.format(planted=None))
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[:2] == ["OK", "MISSED {}"], res.stdout


@pytest.mark.parametrize("planted", [
    # a refund a block early
    ("if now - rec.added_time < self.t_r:\n            raise Revert(TOO_SOON)\n        if not",
     "if now - rec.added_time < self.t_r - 12:\n            raise Revert(TOO_SOON)\n"
     "        if not"),
    # an add that keeps the whole payment, not the deposit it asks for
    ("            raise Revert(TOO_LITTLE)\n        return self.deposit",
     "            raise Revert(TOO_LITTLE)\n        return value"),
])
def test_a_planted_bug_in_a_copy_is_caught(site: Path, planted: tuple[str, str]) -> None:
    res = sumsim(site, code=HARNESS.format(planted=planted))
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "FAILED", res.stdout
