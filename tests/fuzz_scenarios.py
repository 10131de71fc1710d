"""Seeded mutations of the shipped scenarios, for the scenario fuzzer (tests/test_fuzz.py).

Each case is a shipped scenario (as TOML data) with one to three mutations: a wrong type, a
boundary or extreme value, or structural damage (a key or section removed, an unknown key, a
section replaced by a scalar, an empty or doubled agent list, deep nesting).  Cases are a pure
function of their number, so a failing case is reproduced by its id alone.
"""

from __future__ import annotations

import copy
import random
import tomllib
from pathlib import Path
from typing import Any

SCENARIOS = sorted((Path(__file__).parents[1] / "scenarios").glob("*.toml"))

#: Values a mutation may put anywhere: wrong types and extremes.
ODD_VALUES: list[Any] = [
    True, False, "x", "", "12", [], [1, 2], {}, {"a": 1},
    0, -1, 1, 2, 10**30, 2**63, -(2**63), 0.5, 1e-9, -0.0, 1e300, -1e300,
    float("inf"), float("-inf"), float("nan"),
    "1e100000000", "-1e100000000", "1e-100000000", "1e39", "0x10", "NaN", "Infinity",
    "../../../x", "a/b", ".hidden", "\u00e9t\u00e9", "a" * 300,
]
#: Values a numeric field may get: boundaries around the usual ranges.
NUMBERS: list[Any] = [0, 1, -1, 0.0, 0.5, 0.9999, 1.0001, 2, 7, 12, 60, 3600, 86_400,
                      1e6, 1e9, 1e12, 1e15, 1e18, 1e20, 1e38, 1e39, 2**31, 2**62, 2**64]


def load_data(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in a TOML tree (tables, lists and leaves)."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


def _set(node: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(node, path[:-1])[path[-1]] = value


def _delete(node: Any, path: tuple[Any, ...]) -> None:
    parent = _get(node, path[:-1])
    del parent[path[-1]]


def _deep(depth: int) -> Any:
    v: Any = 1
    for _ in range(depth):
        v = {"a": v}
    return v


def mutate(data: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], str]:
    """One mutation of ``data`` (a copy) and a description of it."""
    data = copy.deepcopy(data)
    paths = _paths(data)
    path = rng.choice(paths)
    where = ".".join(map(str, path))
    old = _get(data, path)
    op = rng.random()
    if op < 0.35:
        value = rng.choice(ODD_VALUES)
        _set(data, path, value)
        return data, f"{where} = {value!r:.40}"
    if op < 0.65 and isinstance(old, int | float) and not isinstance(old, bool):
        value = rng.choice(NUMBERS)
        value = -value if rng.random() < 0.1 else value
        _set(data, path, value)
        return data, f"{where} = {value!r}"
    if op < 0.65:  # a huge count or size in some integer field (allocations, loops)
        ints = [p for p in paths if type(_get(data, p)) is int]
        if ints:
            path = rng.choice(ints)
            value = rng.choice([10**6, 10**9, 10**11, 2**62])
            _set(data, path, value)
            return data, f"{'.'.join(map(str, path))} = {value}"
    if op < 0.72:
        _delete(data, path)
        return data, f"del {where}"
    if op < 0.77:
        parent = _get(data, path[:-1])
        if isinstance(parent, dict):
            parent["surprise"] = 1
            return data, f"{'.'.join(map(str, path[:-1])) or 'top'}.surprise = 1"
        parent.append(copy.deepcopy(parent[-1]))
        return data, f"append a copy to {'.'.join(map(str, path[:-1]))}"
    if op < 0.82:
        _set(data, path, [old] if rng.random() < 0.5 else {"value": old})
        return data, f"wrap {where}"
    if op < 0.86:
        _set(data, path, _deep(rng.choice([40, 120, 250])))
        return data, f"{where} = deep nesting"
    if op < 0.90:
        agents = data.get("agents")
        agents = agents if isinstance(agents, list) else []
        data["agents"] = [] if rng.random() < 0.5 else agents * 2
        return data, f"agents: {len(data['agents'])} entries"
    if op < 0.95 and "agents" in data and isinstance(data["agents"], list) and data["agents"]:
        i = rng.randrange(len(data["agents"]))
        agent = data["agents"][i]
        if isinstance(agent, dict):
            key = rng.choice(["balance", "max_deposit", "interval_s", "start_s", "stop_s",
                              "budget", "gas_tip_gwei"])
            value = rng.choice([0, "0.000000000000000001", 1e-18, 1e20, {"dist": "constant",
                                "value": 0}, {"dist": "normal", "mean": 0, "sd": 1},
                                {"dist": "exponential", "mean": 1e-6}, 1e12, 86_400])
            agent[key] = value
            return data, f"agents[{i}].{key} = {value!r}"
    section = rng.choice(["chain", "data", "model", "incentive", "metrics", "scenario"])
    data[section] = rng.choice([1, "x", [], True])
    return data, f"{section} = scalar"


def case(n: int) -> tuple[str, dict[str, Any], str]:
    """Fuzz case ``n``: (scenario name, mutated data, what was done)."""
    rng = random.Random(n)
    path = SCENARIOS[n % len(SCENARIOS)]
    data = load_data(path)
    done = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        data, what = mutate(data, rng)
        done.append(what)
    return path.stem, data, "; ".join(done)
