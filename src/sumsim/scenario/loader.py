"""Reading scenario files: TOML -> validated Scenario, with errors a user can act on.

Every error message names the file, the dotted field path and what was expected, on one line.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ValidationError

from sumsim.errors import FieldError, InputError, shown
from sumsim.registry import blame
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
    elif kind == "int_parsing_size":  # (pydantic speaks of an input string, even for 1e308)
        msg = "a whole number too large for this field"
    inp = e.get("input")
    if kind not in ("missing", "extra_forbidden", "union_tag_invalid", "union_tag_not_found") \
            and not isinstance(inp, dict | list) and repr(inp) not in msg:
        msg += f" (got {shown(inp)})"
    return _dotted(loc, data), msg


def format_validation_error(err: ValidationError, source: str, data: Any = None,
                            model: Any = None) -> InputError:
    """All of a validation's errors on one line, the first one leading; an unknown field
    close to a field of ``model`` (a pydantic model class) gets a "did you mean"."""
    parts = [_describe(e, data) for e in err.errors()]
    if model is not None and any(m == "unknown field" for _, m in parts):
        names = _field_names(model)
        top = set(getattr(model, "model_fields", {}))
        for i, (path, m) in enumerate(parts):
            steps = re.split(r"[.\[]", path)
            last = steps[-1] if m == "unknown field" else ""
            if len(steps) > 1 and last in top:  # ([sweep] grid = ...: a table of its own)
                parts[i] = (path, f"unknown field here; {last!r} is a table of its own, at "
                            f"the top level of the file ([{last}])")
                continue
            # (a table of the file's own is one of the file's tables: [modle] is 'model')
            pool = top if len(steps) == 1 and top else names
            close = difflib.get_close_matches(last, sorted(pool - {last}), n=1, cutoff=0.75)
            if close:
                parts[i] = (path, f"unknown field; did you mean {close[0]!r}?")
    message = parts[0][1]
    if len(parts) > 1:
        message += f" (+{len(parts) - 1} more: " + "; ".join(f"{p}: {m}" for p, m in parts[1:]) \
            + ")"
    return InputError(message, source=source, field=parts[0][0] or None)


def _field_names(model: Any) -> set[str]:
    """Every field name anywhere in ``model``'s schema (plug-ins' options included)."""
    names: set[str] = set()
    stack: list[Any] = [model.model_json_schema()]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                names.update(props)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


#: How deep a scenario's tables and lists may nest (real ones use four or five levels).
MAX_DEPTH = 32


def check_depth(data: Any, source: str) -> None:
    """An InputError naming the first field nested deeper than :data:`MAX_DEPTH` (checked
    without recursion, before anything recursive touches the data)."""
    # (a node's place is a link to its parent's and its key, spelt out only for the error:
    # every sweep point is checked, and most nodes are scalars that need no visit)
    Link = tuple[Any, Any, bool] | None  # (parent's link, key, whether an index)
    stack: list[tuple[Any, int, Link]] = [(data, 0, None)]
    while stack:
        node, depth, link = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError(f"nested more than {MAX_DEPTH} levels deep", source=source,
                             field=_place(link))
        deeper = depth + 1 > MAX_DEPTH  # (then a scalar child is too deep as well)
        if isinstance(node, dict):
            stack += [(v, depth + 1, (link, k, False)) for k, v in node.items()
                      if deeper or isinstance(v, dict | list | tuple)]
        elif isinstance(node, list | tuple):
            stack += [(v, depth + 1, (link, i, True)) for i, v in enumerate(node)
                      if deeper or isinstance(v, dict | list | tuple)]


def _place(link: Any) -> str:
    """A node's dotted path from its link (see :func:`check_depth`)."""
    parts: list[str] = []
    while link is not None:
        link, key, index = link
        parts.append(f"[{key}]" if index else f".{key}")
    return "".join(reversed(parts)).lstrip(".")


def parse_scenario(data: dict[str, Any], source: str = "<scenario>") -> ScenarioBase:
    if not isinstance(data, dict):
        raise InputError(f"expected a table of sections, got {_kind(data)}", source=source)
    check_depth(data, source)
    model = scenario_model()
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise format_validation_error(err, source, data, model) from None
    except RecursionError:
        raise InputError("nested too deeply", source=source) from None
    except Exception as e:  # (a plug-in config's own validator raising something else)
        e.add_note(f"while checking {source}")
        blame(e)
        raise


#: Largest scenario or sweep file read (bytes): real ones are a few kilobytes.
MAX_FILE_BYTES = 1_000_000


def read_toml(path: Path | str) -> dict[str, Any]:
    """Parse a TOML file; every way it can be unreadable is an :class:`InputError` naming it.

    Only regular files are opened (a FIFO or a device would block or never end), at most
    :data:`MAX_FILE_BYTES` are read, and deep nesting is an error, not a crash."""
    import os
    import stat

    if not str(path).strip():  # (Path("") is the current folder)
        raise InputError("an empty path; expected a TOML file (or a bundled scenario's name)")
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError("file not found" + _close_bundled(str(p)), source=str(p)) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", source=str(p)) from None
    except ValueError:  # (an embedded NUL)
        raise InputError("cannot read: a path cannot hold a NUL character",
                         source=repr(str(p))) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError("is a directory, not a TOML file", source=str(p))
    if not stat.S_ISREG(st.st_mode):
        raise InputError("not a regular file (a FIFO, socket or device?)", source=str(p))
    if st.st_size > MAX_FILE_BYTES:
        raise InputError(f"too large for a scenario file ({st.st_size:,} bytes; at most "
                         f"{MAX_FILE_BYTES:,})", source=str(p))
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since stat, opening does not wait.
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", source=str(p)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise InputError(f"too large for a scenario file (more than {MAX_FILE_BYTES:,} "
                         "bytes)", source=str(p))
    try:
        text = raw.decode("utf-8-sig")  # (a byte-order mark, as some editors write, dropped)
    except UnicodeDecodeError:
        raise InputError("not a UTF-8 text file", source=str(p)) from None
    return parse_toml(text, str(p))


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """``tomllib.loads`` with its every failure turned into one line naming ``source``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"invalid TOML: {e}", source=source) from None
    except RecursionError:
        raise InputError("invalid TOML: nested too deeply", source=source) from None
    except ValueError as e:  # e.g. an integer literal of more than 4300 digits
        raise InputError(f"invalid TOML: {e}", source=source) from None


def read_base(file: Path, base: str, field: str) -> tuple[dict[str, Any], str, Path]:
    """The base scenario a sweep or search file names: a path relative to ``file`` or a
    bundled scenario name.  Returns (TOML data, a name for messages, the folder relative data
    paths are read from)."""
    from sumsim.io import probe

    if not base.strip():
        raise InputError("expected a scenario file (relative to this file) or a bundled "
                         "scenario name, got an empty name", source=str(file), field=field)
    base_path = file.parent / base
    bundled = base.removesuffix(".toml") in BUNDLED
    if bundled and base_path.is_dir():  # (a run's folder named after it: the name wins)
        return tomllib.loads(bundled_text(base.removesuffix(".toml"))), base, file.parent
    if probe(base_path, source=str(file), field=field) is not None:
        try:
            data = read_toml(base_path)
        except InputError as e:  # (the base names itself: say which file pointed to it)
            raise InputError(str(e), source=str(file), field=field) from None
        study = next((k for k in ("sweep", "search") if k in data), None)
        if study is not None and "agents" not in data:  # (e.g. the file naming itself)
            raise InputError(f"{base!r} is a {study} file, not a scenario; expected a "
                             "scenario file or a bundled scenario name", source=str(file),
                             field=field)
        return data, str(base_path), base_path.parent
    if bundled:
        return tomllib.loads(bundled_text(base.removesuffix(".toml"))), base, file.parent
    raise InputError(f"base scenario {base!r} not found" + _close_bundled(base),
                     source=str(file), field=field)


def _close_bundled(name: str) -> str:
    """"; did you mean ..." naming a bundled scenario close to ``name`` (or nothing)."""
    close = difflib.get_close_matches(Path(name).stem, sorted(BUNDLED), n=1, cutoff=0.75)
    if close:
        return f"; did you mean the bundled scenario {close[0]!r}?"
    return " (nor is it a bundled scenario's name: `sumsim run --list` lists them)"


def bundled_text(name: str) -> str:
    return resources.files("sumsim").joinpath(f"scenarios/{name}.toml").read_text("utf-8")


def read_scenario_file(path: Path | str) -> dict[str, Any]:
    """A scenario file's tables (a missing file close to a bundled name suggests it); a sweep
    or search file given where a scenario is expected says so."""
    data = read_toml(path)
    for kind in ("sweep", "search"):  # (no scenario has such a table)
        if isinstance(data.get(kind), dict):
            raise InputError(f"a {kind} file (it has a [{kind}] table), not a scenario: run "
                             f"it with `sumsim {kind}` (sumsim.{kind}(...) in Python)",
                             source=str(path))
    return data


def load_scenario(path: Path | str | None = None,
                  overrides: dict[str, Any] | None = None) -> ScenarioBase:
    """Load a scenario file (None: the bundled quickstart) and apply dotted-path overrides."""
    if path is None or str(path) in BUNDLED:
        name = "quickstart" if path is None else str(path)
        data = tomllib.loads(bundled_text(name))
        source = f"<bundled {name}.toml>"
    else:
        data = read_scenario_file(path)
        source = str(path)
    if overrides:
        data = apply_overrides(data, overrides)
    return parse_scenario(data, source)


def explain_kind_switch(e: InputError, overrides: dict[str, Any], given: str,
                        whole: Callable[[str, Any], str]) -> InputError:
    """``e`` with a hint when an override switched a kind alone (``model.kind``) and the old
    kind's options, left in the table, are unknown to the new one: ``given`` names how the
    override was given (``--set model.kind``), ``whole(table, kind)`` how to replace the
    table whole."""
    for key in overrides:
        table = key.removesuffix(".kind")
        if key.endswith(".kind") and "unknown field" in e.message and \
                (e.field or "").startswith(table + "."):
            return InputError(f"{e.message} ({given.format(key=key)} changes the kind only: "
                              "the old kind's options stay in the table; replace the table "
                              f"whole, e.g. {whole(table, overrides[key])})",
                              source=e.source, field=e.field)
    return e


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set ``a.b[1].c``-style dotted paths (``agents.1.balance`` also accepted) in a copy."""
    import copy
    import re

    check_depth(data, "<scenario>")
    check_depth(list(overrides.values()), "<overrides>")
    out = copy.deepcopy(data)
    for path, value in overrides.items():
        path = str(path).strip()
        parts = [p for p in re.split(r"\.|\[(\d+)\]", path) if p]
        if not re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+|\[\d+\])*", path):
            raise InputError("expected a dotted field path such as agents[1].balance",
                             field=path or "(empty path)")
        node: Any = out
        parent: Any = None
        created = False
        for j, part in enumerate(parts):
            last = j == len(parts) - 1
            key: Any = int(part) if part.isdigit() else part
            where = ".".join(parts[:j]) or "(top level)"
            if isinstance(node, list):
                if not isinstance(key, int) or key >= len(node):
                    raise InputError(
                        f"no item {part!r}: {where} is a list of {len(node)} item"
                        f"{'' if len(node) == 1 else 's'}" + (
                            f" (0 to {len(node) - 1})" if len(node) > 1 else ""), field=path)
            elif not isinstance(node, dict):
                raise InputError(f"{where} is a {_kind(node)}, not a table: it has no field "
                                 f"{part!r}", field=path)
            elif isinstance(key, int):
                if not created:
                    raise InputError(f"{part!r} indexes something that is not a list",
                                     field=path)
                # (the name before the index is no field of the scenario)
                name = parts[j - 1]
                if j == 1 and _is_list_field(name):
                    raise InputError(f"the scenario has no {name} (an empty list): give the "
                                     f"whole list, e.g. {name} = [{{kind = ...}}]", field=path)
                close = difflib.get_close_matches(name, sorted(
                    k for k, v in parent.items() if isinstance(v, list)), n=1, cutoff=0.6)
                raise InputError(f"{name!r} is not a list of the scenario" + (
                    f"; did you mean {close[0]!r}?" if close else ""), field=path)
            if last:
                node[key] = value
            else:
                created = isinstance(node, dict) and key not in node
                if created:
                    node[key] = {}
                parent, node = node, node[key]
    return out


def _is_list_field(name: str) -> bool:
    """Whether ``name`` is a list-valued table of the scenario (``agents``, ``defenses``)."""
    import typing

    field = ScenarioBase.model_fields.get(name)
    return field is not None and typing.get_origin(field.annotation) is list


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else type(value).__name__


def dump_scenario(scenario: BaseModel) -> str:
    """The fully resolved scenario as TOML (amounts back in ether, exact): every default
    written out, and the options left unset (TOML has no null) listed in a closing comment
    with their documented meaning."""
    text = _toml_in_order(scenario.model_dump(mode="json", exclude_none=True))
    unset = list(_unset(scenario, ""))
    if unset:
        text += "\n# Options left unset (their documented meaning applies):\n" + "".join(
            f"#   {path}: {desc}\n" for path, desc in unset)
    return text


#: The order a scenario file's sections are written in (as the shipped scenarios have them);
#: sections not named here follow, in the schema's order.
SECTION_ORDER = ("scenario", "chain", "data", "model", "incentive", "agents", "defenses",
                 "metrics")


def _toml_in_order(data: dict[str, Any]) -> str:
    """``data`` as TOML with its sections in :data:`SECTION_ORDER`, each list of tables
    (``agents``, ``defenses``) as ``[[...]]`` tables where it belongs (a writer left to itself
    puts short ones inline at the top of the file) and an empty one left out (the default)."""
    def tables(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(i, dict) for i in v)

    keys = [k for k in SECTION_ORDER if k in data] + [k for k in data if k not in SECTION_ORDER]
    plain = {k: v for k, v in data.items()
             if not isinstance(v, dict) and not tables(v) and v != []}
    chunks = [tomli_w.dumps(plain)] if plain else []
    for key in keys:
        value = data[key]
        if isinstance(value, dict):
            chunks.append(tomli_w.dumps({key: value}))
        elif tables(value):
            for item in value:
                text = tomli_w.dumps({key: item})
                head = f"[{key}]\n"
                chunks.append(f"[[{key}]]\n" + (text[len(head):] if text.startswith(head)
                                                 else text))
    return "\n".join(c.rstrip("\n") + "\n" for c in chunks)


def _unset(model: Any, prefix: str) -> Any:
    """(dotted path, description) of every None-valued field, depth first."""
    if isinstance(model, BaseModel):
        for name, fld in type(model).model_fields.items():
            value = getattr(model, name)
            path = f"{prefix}.{name}" if prefix else name
            if value is None:
                yield path, " ".join((fld.description or "no default").split())
            else:
                yield from _unset(value, path)
    elif isinstance(model, list):
        for i, item in enumerate(model):
            yield from _unset(item, f"{prefix}[{i}]")


def json_schema() -> dict[str, Any]:
    return scenario_model().model_json_schema()
