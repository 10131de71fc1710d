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

from sumsim.errors import FieldError, InputError
from sumsim.scenario.schema import ScenarioBase, all_kinds, scenario_model


def _bundled() -> tuple[str, ...]:
    """Names of the scenarios shipped inside the package (runnable by name)."""
    folder = resources.files("sumsim").joinpath("scenarios")
    return tuple(sorted(f.name.removesuffix(".toml") for f in folder.iterdir()
                        if f.name.endswith(".toml")))


BUNDLED = _bundled()


def _dotted(loc: tuple[Any, ...], data: Any) -> str:
    """``('agents', 0, 'honest', 'balance')`` -> ``agents[0].balance``.

    Walks the input alongside the path to drop the parts pydantic inserts that are not fields:
    discriminated-union tags (an agent's ``kind``, a distribution's ``dist``) and validator
    names.
    """
    out = ""
    node = data
    tags = all_kinds()
    for part in loc:
        real = isinstance(node, dict) and part in node
        if not real and isinstance(part, str) and (
                (isinstance(node, dict) and (node.get("kind") == part or node.get("dist") == part))
                or part in tags or "function-" in part or "[" in part):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return out or "(top level)"


def _describe(e: Any, data: Any) -> tuple[str, str]:
    """(dotted field path, message) of one pydantic error."""
    loc = tuple(e["loc"])
    msg = e["msg"]
    ctx = e.get("ctx") or {}
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    kind = e["type"]
    err = ctx.get("error")
    if isinstance(err, FieldError):
        loc = loc + tuple(err.path)
    if kind == "extra_forbidden":
        msg = "unknown field"
    elif kind == "union_tag_invalid":
        disc = ctx.get("discriminator", "kind").strip("'")
        loc = loc + (disc,)
        msg = f"unknown {disc} {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    elif kind == "union_tag_not_found":
        disc = ctx.get("discriminator", "kind").strip("'")
        loc = loc + (disc,)
        msg = "field required"
    elif kind == "missing":
        msg = "field required"
    inp = e.get("input")
    if kind not in ("missing", "extra_forbidden", "union_tag_invalid", "union_tag_not_found") \
            and not isinstance(inp, dict | list) and repr(inp) not in msg:
        msg += f" (got {inp!r})"
    return _dotted(loc, data), msg


def format_validation_error(err: ValidationError, source: str, data: Any = None) -> InputError:
    """All of a validation's errors on one line, the first one leading."""
    parts = [_describe(e, data) for e in err.errors()]
    first = f"{source}: {parts[0][0]}: {parts[0][1]}"
    if len(parts) > 1:
        first += f" (+{len(parts) - 1} more: " + "; ".join(f"{p}: {m}" for p, m in parts[1:]) + ")"
    return InputError(first)


def parse_scenario(data: dict[str, Any], source: str = "<scenario>") -> ScenarioBase:
    try:
        return scenario_model().model_validate(data)
    except ValidationError as err:
        raise format_validation_error(err, source, data) from None


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
