"""Reading scenario files: TOML -> validated Scenario, with errors a user can act on.

Every error message names the file, the dotted field path and what was expected, on one line.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ValidationError

from sumsim.errors import InputError
from sumsim.scenario.registry import AGENTS, DEFENSES
from sumsim.scenario.schema import ScenarioBase, scenario_model

BUNDLED = ("quickstart", "paper-imdb-perceptron-drt")


def _dotted(loc: tuple[Any, ...]) -> str:
    """``('agents', 0, 'honest', 'balance')`` -> ``agents[0].balance`` (drops union tags)."""
    out = ""
    prev: Any = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif prev is not None and isinstance(prev, int) and (part in AGENTS or part in DEFENSES):
            pass
        elif "[" in str(part) or "function-" in str(part):
            pass
        else:
            out += ("." if out else "") + str(part)
        prev = part
    return out or "(top level)"


def format_validation_error(err: ValidationError, source: str) -> InputError:
    lines = []
    for e in err.errors():
        msg = e["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "union_tag_invalid":
            msg = f"unknown kind {e['input'].get('kind')!r}; expected one of " + \
                ", ".join(repr(k) for k in e["ctx"]["expected_tags"].split(", "))
        elif e["type"] == "missing":
            msg = "field required"
        inp = e.get("input")
        shown = f" (got {inp!r})" if not isinstance(inp, dict | list) and e["type"] not in (
            "missing", "extra_forbidden") else ""
        lines.append(f"{source}: {_dotted(tuple(e['loc']))}: {msg}{shown}")
    first = lines[0]
    more = f" (+{len(lines) - 1} more: " + "; ".join(
        ln.split(": ", 1)[1] for ln in lines[1:]) + ")" if len(lines) > 1 else ""
    return InputError(first + more)


def parse_scenario(data: dict[str, Any], source: str = "<scenario>") -> ScenarioBase:
    try:
        return scenario_model().model_validate(data)
    except ValidationError as err:
        raise format_validation_error(err, source) from None


def read_toml(path: Path | str) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", source=str(p))
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"invalid TOML: {e}", source=str(p)) from None
    except UnicodeDecodeError:
        raise InputError("not a UTF-8 text file", source=str(p)) from None


def bundled_text(name: str) -> str:
    return resources.files("sumsim").joinpath(f"scenarios/{name}.toml").read_text("utf-8")


def load_scenario(path: Path | str | None = None,
                  overrides: dict[str, Any] | None = None) -> ScenarioBase:
    """Load a scenario file (None: the bundled quickstart) and apply dotted-path overrides."""
    if path is None or str(path) in BUNDLED:
        name = "quickstart" if path is None else str(path)
        data = tomllib.loads(bundled_text(name))
        source = f"<bundled {name}.toml>"
    else:
        data = read_toml(path)
        source = str(path)
    if overrides:
        data = apply_overrides(data, overrides)
    return parse_scenario(data, source)


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set ``a.b[1].c``-style dotted paths (``agents.1.balance`` also accepted) in a copy."""
    import copy
    import re

    out = copy.deepcopy(data)
    for path, value in overrides.items():
        parts = [p for p in re.split(r"\.|\[(\d+)\]", path) if p]
        node: Any = out
        for j, part in enumerate(parts):
            last = j == len(parts) - 1
            key: Any = int(part) if part.isdigit() else part
            if isinstance(node, list):
                if not isinstance(key, int) or key >= len(node):
                    raise InputError(f"no list item {part!r} in override path", field=path)
            elif isinstance(key, int):
                raise InputError(f"{part!r} indexes something that is not a list", field=path)
            if last:
                node[key] = value
            else:
                if isinstance(node, dict) and key not in node:
                    node[key] = {}
                node = node[key]
    return out


def dump_scenario(scenario: BaseModel) -> str:
    """The fully resolved scenario as TOML (amounts back in ether, exact)."""
    return tomli_w.dumps(scenario.model_dump(mode="json", exclude_none=True))


def json_schema() -> dict[str, Any]:
    return scenario_model().model_json_schema()
