"""Scenario files: exact ether -> wei, timing distributions, defaults, overrides, JSON schema."""

from __future__ import annotations

import json
import math
import tomllib
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

import sumsim.registry as registry
from sumsim.cli import _parse_set, main
from sumsim.config import Distribution
from sumsim.errors import InputError
from sumsim.scenario.loader import (
    apply_overrides,
    bundled_text,
    dump_scenario,
    json_schema,
    load_scenario,
    parse_scenario,
)
from sumsim.units import WEI_PER_ETHER, WEI_PER_GWEI, from_wei, to_wei

SCENARIOS = Path(__file__).parents[1] / "scenarios"
ROOT = Path(__file__).parents[1]
ETHER = WEI_PER_ETHER


# -- ether -> wei ------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "wei"), [
    ("0.1", 10**17),
    (0.1, 10**17),
    (0.016666666666666666, 16666666666666666),
    ("0.016666666666666666", 16666666666666666),
    (0, 0),
    (1, ETHER),
    (10_000, 10_000 * ETHER),
    (10**30, 10**48),
    ("1_000", 1000 * ETHER),
    (" 2 ", 2 * ETHER),
    ("1e3", 1000 * ETHER),
    (1e21, 10**39),
    ("0.000000000000000001", 1),
    (1e-18, 1),
    ("123.000000000000000000", 123 * ETHER),
    (Decimal("0.5"), ETHER // 2),
    ("-0.1", -(10**17)),
])
def test_to_wei_is_exact(value: object, wei: int) -> None:
    got = to_wei(value)
    assert type(got) is int
    assert got == wei


@pytest.mark.parametrize("value", [
    "10000000000.000000000000000001",   # 29 significant digits
    "12345678901.123456789012345678",
    "99999999999999999999.999999999999999999",
])
def test_to_wei_is_exact_beyond_28_significant_digits(value: str) -> None:
    whole, frac = value.split(".")
    assert to_wei(value) == int(whole) * ETHER + int(frac.ljust(18, "0"))


@pytest.mark.parametrize("wei", [0, 1, 10**17, 16666666666666666, 10_000 * ETHER, 10**40,
                                 12345678901123456789012345678, 10**28 + 1])
def test_from_wei_round_trips(wei: int) -> None:
    assert to_wei(from_wei(wei)) == wei


def test_from_wei_writes_plain_decimals() -> None:
    assert from_wei(10**17) == "0.1"
    assert from_wei(10_000 * ETHER) == "10000"
    assert from_wei(1) == "0.000000000000000001"
    assert from_wei(4 * WEI_PER_GWEI, WEI_PER_GWEI) == "4"


def test_gwei_unit() -> None:
    assert to_wei(4, WEI_PER_GWEI) == 4 * 10**9
    assert to_wei("1.5", WEI_PER_GWEI) == 1_500_000_000
    assert to_wei("0.000000001", WEI_PER_GWEI) == 1
    with pytest.raises(ValueError, match="more decimal places than 9"):
        to_wei("0.0000000001", WEI_PER_GWEI)


@pytest.mark.parametrize("value", [
    "0.0000000000000000001",   # 19 decimals
    "1.0000000000000000001",
    1e-19,
    "1e-19",
])
def test_to_wei_rejects_sub_wei_amounts(value: object) -> None:
    with pytest.raises(ValueError, match="more decimal places than 18"):
        to_wei(value)


@pytest.mark.parametrize(("value", "match"), [
    (True, "boolean"),
    (False, "boolean"),
    (float("nan"), "finite"),
    (float("inf"), "finite"),
    (float("-inf"), "finite"),
    ("nan", "finite"),
    ("inf", "finite"),
    ("-Infinity", "finite"),
    ("abc", "decimal amount"),
    ("", "decimal amount"),
    (None, "NoneType"),
    ([1], "list"),
])
def test_to_wei_rejects_non_amounts(value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        to_wei(value)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_to_wei_rejects_non_finite_decimals(value: Decimal) -> None:
    with pytest.raises(ValueError, match="finite"):
        to_wei(value)


def test_amount_fields_in_a_scenario() -> None:
    sc = load_scenario(None, {"agents[0].balance": "0.1", "agents[1].max_deposit": 0.3,
                              "chain.gas_price_gwei": "2.5"})
    assert sc.agents[0].balance == 10**17
    assert sc.agents[1].max_deposit == 3 * 10**17
    assert sc.chain.gas_price_gwei == 2_500_000_000
    with pytest.raises(InputError, match=r"agents\[0\]\.balance: must not be negative"):
        load_scenario(None, {"agents[0].balance": "-0.1"})


# -- distributions ---------------------------------------------------------------------

DISTS = [
    {"dist": "constant", "value": 5},
    {"dist": "normal", "mean": 600, "sd": 1},
    {"dist": "normal", "mean": 1, "sd": 100},   # mostly truncated at 0
    {"dist": "exponential", "mean": 3600},
    {"dist": "uniform", "low": 10, "high": 20},
    {"dist": "uniform", "low": 7, "high": 7},
    {"dist": "lognormal", "mean": 600, "sigma": 0.5},
]
DIST = TypeAdapter(Distribution)


@pytest.mark.parametrize("spec", DISTS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_distributions_sample_non_negative_and_reproducibly(spec: dict[str, object]) -> None:
    d = DIST.validate_python(spec)
    rng1, rng2 = np.random.default_rng(7), np.random.default_rng(7)
    s1 = np.array([d.sample(rng1) for _ in range(3000)])
    s2 = np.array([d.sample(rng2) for _ in range(3000)])
    np.testing.assert_array_equal(s1, s2)
    assert np.isfinite(s1).all()
    assert (s1 >= 0).all()
    assert all(type(v) is float for v in s1.tolist())
    other = np.array([d.sample(np.random.default_rng(8)) for _ in range(3000)])
    if spec["dist"] == "constant" or spec.get("low") == spec.get("high", object()):
        np.testing.assert_array_equal(s1, other)
    else:
        assert not np.array_equal(s1, other)


@pytest.mark.parametrize("spec", [*DISTS, {"dist": "lognormal", "mean": 600, "sigma": 3},
                                  {"dist": "normal", "mean": 0, "sd": 10}],
                         ids=lambda s: "-".join(str(v) for v in s.values()))
def test_distribution_medians_match_samples(spec: dict[str, object]) -> None:
    """``median_s`` (what the interval rule checks) is the median of what ``sample`` draws."""
    d = DIST.validate_python(spec)
    rng = np.random.default_rng(3)
    s = np.array([d.sample(rng) for _ in range(40_000)])
    lo, hi = np.quantile(s, [0.49, 0.51])  # (a band: the median's sampling error)
    assert lo - 1e-9 <= d.median_s() <= hi + 1e-9


def test_distribution_shapes() -> None:
    rng = np.random.default_rng(0)

    def draw(spec: dict[str, object], n: int = 20_000) -> np.ndarray:
        d = DIST.validate_python(spec)
        return np.array([d.sample(rng) for _ in range(n)])

    assert (draw({"dist": "constant", "value": 5}, 10) == 5).all()
    u = draw({"dist": "uniform", "low": 10, "high": 20})
    assert u.min() >= 10 and u.max() <= 20
    assert draw({"dist": "exponential", "mean": 3600}).mean() == pytest.approx(3600, rel=0.05)
    ln = draw({"dist": "lognormal", "mean": 600, "sigma": 0.5})
    assert ln.mean() == pytest.approx(600, rel=0.05)
    n = draw({"dist": "normal", "mean": 600, "sd": 1})
    assert n.mean() == pytest.approx(600, abs=0.1)
    truncated = draw({"dist": "normal", "mean": 0, "sd": 10})
    assert (truncated >= 0).all() and (truncated == 0).mean() == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("spec", [
    {"dist": "poisson", "mean": 1},
    {"dist": "normal", "mean": 600},
    {"dist": "normal", "mean": 600, "sd": -1},
    {"dist": "normal", "mean": -1, "sd": 1},
    {"dist": "exponential", "mean": 0},
    {"dist": "uniform", "low": 20, "high": 10},
    {"dist": "uniform", "low": -1, "high": 10},
    {"dist": "constant", "value": -1},
    {"dist": "constant", "value": 1, "extra": 2},
    {"mean": 600},
])
def test_bad_distributions_are_rejected(spec: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DIST.validate_python(spec)


# -- defaults and the resolved scenario ---------------------------------------------------


def test_bundled_quickstart_has_every_default_filled() -> None:
    sc = load_scenario()
    assert sc == load_scenario("quickstart")
    assert sc == load_scenario(SCENARIOS / "quickstart.toml")
    assert bundled_text("quickstart") == (SCENARIOS / "quickstart.toml").read_text("utf-8")
    # given in the file
    assert sc.scenario.name == "quickstart" and sc.scenario.seed == 1
    assert sc.chain.gas_price_gwei == 4 * WEI_PER_GWEI
    assert sc.incentive.cost_weight == 16666666666666666
    assert sc.incentive.refund_wait_s == 86_400
    assert [a.name for a in sc.agents] == ["good", "bad"]
    assert [a.kind for a in sc.agents] == ["honest", "label_flip"]
    assert sc.agents[0].balance == 10_000 * ETHER and sc.agents[1].max_deposit == 100 * ETHER
    assert sc.metrics.counterfactual is True
    # defaults
    assert sc.scenario.description == "" and sc.scenario.duration_s is None
    assert sc.chain.block_gas_limit == 30_000_000 and sc.chain.tx_gas_limit == 10_000_000
    assert sc.chain.gas.intrinsic is None
    assert sc.data.max_pool is None and sc.data.shuffle is True
    assert sc.data.synthetic.label_noise == 0.03 and sc.data.synthetic.seed is None
    assert sc.model.learning_rate == 1 and sc.model.epochs == 1 and sc.model.fixed_point
    # resolved: the owner wait equals the any-address wait unless set; no wallet owns it
    assert sc.incentive.owner_claim_wait_s == sc.incentive.any_address_claim_wait_s
    assert sc.incentive.owner is None
    assert sc.metrics.baseline is True and sc.metrics.figure is True
    good, bad = sc.agents
    assert good.accuracy_gated is True and good.accuracy_bonus == 0.15
    assert good.gas_tip_gwei == 0 and good.start_s == 0 and good.stop_s is None
    assert good.claim_refunds and good.report and good.take_expired
    assert bad.budget is None and bad.target_class is None and bad.stop_at_accuracy is None
    assert sc.defenses == []


def test_minimal_scenario_gets_the_documented_defaults() -> None:
    sc = parse_scenario({"agents": [{"name": "a", "kind": "honest", "balance": 1}]})
    a = sc.agents[0]
    assert a.interval_s.dist == "exponential" and a.interval_s.mean == 3600
    assert a.max_deposit is None and a.mistake_rate == 0
    assert sc.scenario.name == "scenario" and sc.scenario.seed == 1
    assert sc.data.dataset == "synthetic" and sc.data.init_train_fraction == 0.08
    assert sc.model.kind == "perceptron"
    assert sc.incentive.kind == "deposit_refund_take"
    assert sc.incentive.any_address_claim_wait_s == 777_600
    assert sc.incentive.cost_weight == 16666666666666666


@pytest.mark.parametrize("source", [None, SCENARIOS / "paper-imdb-perceptron-drt.toml"])
def test_resolved_dump_reloads_to_an_equal_scenario(source: Path | None,
                                                    tmp_path: Path) -> None:
    sc = load_scenario(source)
    text = dump_scenario(sc)
    data = tomllib.loads(text)
    for section in ("scenario", "chain", "data", "model", "incentive", "metrics", "agents"):
        assert section in data
    assert "block_gas_limit" in data["chain"] and "accuracy_bonus" in data["agents"][0]
    again = parse_scenario(data)
    assert again == sc
    assert dump_scenario(again) == text
    f = tmp_path / "resolved.toml"
    f.write_text(text, encoding="utf-8")
    assert load_scenario(f) == sc


def test_dump_round_trips_unusual_values() -> None:
    sc = load_scenario(None, {
        "scenario.description": 'quotes " and \\ and\nnewlines',
        "scenario.duration_s": 123.5,
        "incentive.cost_weight": "0.000000000000000001",
        "incentive.owner": "good",
        "incentive.owner_claim_wait_s": 100_000,
        "agents[0].balance": "1234567.891011121314151617",
        "agents[0].interval_s": {"dist": "uniform", "low": 1, "high": 2},
        "agents[1].interval_s": {"dist": "lognormal", "mean": 1.5, "sigma": 0.3},
        "agents[1].budget": "0.5",
        "agents[1].target_class": 0,
        "chain.gas_price_gwei": "0.000000001",
        "chain.gas": {"intrinsic": 21_000},
        "data.max_pool": 10,
        "data.synthetic.seed": 3,
    })
    again = parse_scenario(tomllib.loads(dump_scenario(sc)))
    assert again == sc
    assert again.incentive.cost_weight == 1 and again.chain.gas_price_gwei == 1
    assert again.agents[0].balance == 1234567891011121314151617


# -- overrides -----------------------------------------------------------------------------


def test_overrides_by_dotted_path() -> None:
    base = load_scenario()
    sc = load_scenario(None, {"agents[1].balance": 500, "model.kind": "naive_bayes"})
    assert sc.agents[1].balance == 500 * ETHER
    assert sc.model.kind == "naive_bayes"
    assert sc.agents[0] == base.agents[0]
    assert sc.chain == base.chain and sc.data == base.data
    assert load_scenario(None, {"agents.1.balance": 500}).agents[1].balance == 500 * ETHER
    # a missing section is created
    sc2 = load_scenario(None, {"data.max_pool": 400, "scenario.duration_s": 10})
    assert sc2.data.max_pool == 400 and sc2.scenario.duration_s == 10
    assert sc2.data.synthetic == base.data.synthetic


def test_overrides_do_not_touch_their_input() -> None:
    data = tomllib.loads(bundled_text("quickstart"))
    before = json.dumps(data, sort_keys=True)
    out = apply_overrides(data, {"agents[0].name": "x", "chain.gas.intrinsic": 1})
    assert json.dumps(data, sort_keys=True) == before
    assert out["agents"][0]["name"] == "x" and out["chain"]["gas"] == {"intrinsic": 1}


@pytest.mark.parametrize(("overrides", "match"), [
    ({"agents[5].balance": 1}, r"agents\[5\]\.balance"),
    ({"agents.x.balance": 1}, r"agents\.x\.balance"),
    ({"model[0]": 1}, r"model\[0\]"),
])
def test_bad_override_paths(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        load_scenario(None, overrides)


@pytest.mark.parametrize(("overrides", "match"), [
    ({"agents[0].balance": -1}, r"^<bundled quickstart\.toml>: agents\[0\]\.balance: "),
    ({"model.kind": "svm"}, r"^<bundled quickstart\.toml>: model\.kind: "),
    ({"chain.blocktime": 3}, r"^<bundled quickstart\.toml>: chain\.blocktime: unknown field"),
])
def test_overrides_are_validated_like_the_file(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        load_scenario(None, overrides)


def test_cli_set_values_are_toml_literals() -> None:
    assert _parse_set(["agents[1].balance=500", "model.kind=naive_bayes",
                       "data.max_pool = 400", "incentive.cost_weight=\"0.1\"",
                       "metrics.figure=false", "x=a=b"]) == {
        "agents[1].balance": 500, "model.kind": "naive_bayes", "data.max_pool": 400,
        "incentive.cost_weight": "0.1", "metrics.figure": False, "x": "a=b"}
    with pytest.raises(InputError, match="PATH=VALUE"):
        _parse_set(["model.kind"])


# -- JSON schema ---------------------------------------------------------------------------


def test_json_schema_lists_the_agent_kinds() -> None:
    schema = json_schema()
    items = schema["properties"]["agents"]["items"]
    mapping = items["discriminator"]["mapping"]
    assert {"honest", "label_flip"} <= set(mapping)
    assert set(mapping) == set(registry.plugins("agents"))
    defs = schema["$defs"]
    honest = defs[mapping["honest"].rsplit("/", 1)[1]]
    assert honest["properties"]["kind"].get("const") == "honest" or \
        honest["properties"]["kind"].get("enum") == ["honest"]
    assert {"name", "kind", "balance"} <= set(honest["required"])
    assert "mistake_rate" in honest["properties"]
    assert honest["additionalProperties"] is False
    assert schema["properties"]["agents"]["minItems"] == 1
    for section in ("scenario", "chain", "data", "model", "incentive", "metrics"):
        assert section in schema["properties"]


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json_schema()
    assert "label_flip" in printed["properties"]["agents"]["items"]["discriminator"]["mapping"]


@pytest.mark.parametrize(("flag", "folder", "section"), [
    ("--sweep", "study", "sweep"), ("--search", "search", "search")])
def test_schema_command_prints_the_sweep_and_search_file_schemas(
        flag: str, folder: str, section: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", flag]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert section in printed["required"]
    assert printed["additionalProperties"] is False
    inner = printed["$defs"][printed["properties"][section]["$ref"].rsplit("/", 1)[1]]
    assert "base" in inner["required"]
    # every shipped file of that kind uses only what the schema describes
    files = sorted((ROOT / "benchmarks" / folder).glob("*.toml"))
    assert files
    for path in files:
        data = tomllib.loads(path.read_text())
        assert set(data) <= set(printed["properties"]), path
        assert set(data[section]) <= set(inner["properties"]), path


def test_plugins_command_lists_the_agent_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "honest" in out and "label_flip" in out


def test_validate_accepts_the_bundled_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in SCENARIOS.glob("*.toml"))
    assert len(files) >= 2
    assert main(["validate", *files]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert len(out.out.splitlines()) == len(files)
    assert all(line.endswith("agents)") for line in out.out.splitlines())


def test_float_amounts_use_their_shortest_repr() -> None:
    # 0.1 is not exactly representable as a float; the conversion uses its repr, not the
    # binary value (which would give 100000000000000005551 wei).
    assert to_wei(0.1) == 10**17
    assert Decimal(0.1) * ETHER != 10**17
    assert math.isclose(to_wei(1 / 3) / ETHER, 1 / 3)
