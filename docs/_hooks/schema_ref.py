"""Markdown references generated from the pydantic models: the scenario file (every section and
every registered plug-in's options), the sweep file and the search file.

Everything is read from the models themselves (types, defaults, constraints, descriptions,
units), so a field added in code appears here at the next build, and a plug-in installed in
the build environment gets its own section like the built-ins.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

#: Sphinx roles as they appear in docstrings: ``:class:`~a.b.C``` -> ``C``.
_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):`~?([^`]+)`")


def rst_to_md(text: str) -> str:
    """A docstring (reStructuredText habits) as Markdown: roles become code, ``::`` a colon,
    literal blocks fenced code."""
    text = _ROLE.sub(lambda m: f"``{m.group(1)}``", text)
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::"):
            head = line.rstrip()[:-2].rstrip()
            out.append(head + ":" if head else "")
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            body = [ln for ln in block if ln.strip()]
            indent = min((len(ln) - len(ln.lstrip()) for ln in body), default=0)
            lang = "toml" if any(ln.strip().startswith("[") for ln in body) else "python"
            out += ["", f"```{lang}", *(ln[indent:] for ln in block if True), "```", ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out).replace("\n\n\n", "\n\n")


def docstring(obj: Any) -> str:
    import inspect

    return rst_to_md(inspect.cleandoc(obj.__doc__ or "")).strip()


# -- one field ---------------------------------------------------------------------------------
def _money_unit(fi: FieldInfo | None, annotation: Any) -> str:
    """"ether" / "gwei" for the money types of sumsim.config (marked in their JSON schema)."""
    extras: list[Any] = []
    if fi is not None:
        extras.append(fi.json_schema_extra)
    stack = [annotation]
    while stack:
        a = stack.pop()
        for arg in typing.get_args(a):
            if isinstance(arg, FieldInfo):
                extras.append(arg.json_schema_extra)
            else:
                stack.append(arg)
    for extra in extras:
        if isinstance(extra, dict):
            unit = extra.get("unit") or extra.get("description")
            if unit in ("ether", "gwei"):
                return str(unit)
    return ""


def _is_distribution(annotation: Any) -> bool:
    from sumsim.config import Constant

    args = _union_args(annotation)
    return len(args) > 1 and any(a is Constant for a in args)


def _union_args(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def unit_of(name: str, fi: FieldInfo) -> str:
    money = _money_unit(fi, fi.annotation)
    if money:
        return money
    if name.endswith("_s") or _is_distribution(fi.annotation):
        return "seconds"
    if name == "eth_usd":
        return "USD per ether"
    for suffix, unit in (("_gwei", "gwei"), ("_wei", "wei"), ("_eth", "ether"),
                         ("_pct", "%"), ("_usd", "USD")):
        if name.endswith(suffix):
            return unit
    if "gas" in name and _plain(fi.annotation) is int:
        return "gas"
    bounds = _bounds(fi)
    if _plain(fi.annotation) is float and bounds.get("ge") == 0 and bounds.get("le") == 1:
        return "fraction"
    return ""


def _plain(annotation: Any) -> Any:
    args = _union_args(annotation)
    return args[0] if len(args) == 1 else None


def _bounds(fi: FieldInfo) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in fi.metadata:
        for key in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
            v = getattr(m, key, None)
            if v is not None:
                out[key] = v
    return out


def type_of(annotation: Any, anchors: dict[type, str]) -> str:
    """A reader's name for a field's type (Markdown)."""
    if _is_distribution(annotation):
        return "[distribution](#distributions)"
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner = typing.get_args(annotation)[0]
        if _money_unit(None, annotation):
            return "amount"
        return type_of(inner, anchors)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(dict.fromkeys(type_of(a, anchors) for a in args))
    if origin is typing.Literal:
        return " or ".join(f"`{v!r}`".replace("'", '"') for v in typing.get_args(annotation))
    if origin is list:
        (arg,) = typing.get_args(annotation) or (Any,)
        return f"list of {type_of(arg, anchors)}"
    if origin is dict:
        _, val = typing.get_args(annotation) or (str, Any)
        return f"table of {type_of(val, anchors)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        anchor = anchors.get(annotation)
        return f"[table](#{anchor})" if anchor else "table"
    return {str: "string", int: "integer", float: "number", bool: "boolean",
            typing.Any: "any value"}.get(annotation, getattr(annotation, "__name__",
                                                             str(annotation)))


def _duration(seconds: float) -> str:
    for size, word in ((86_400 * 7, "week"), (86_400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {word}{'s' if n != 1 else ''}"
    if seconds >= 86_400:
        return f"{seconds / 86_400:.3g} days"
    return ""


def toml_value(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, BaseModel):
        data = value.model_dump(mode="json", exclude_none=True)
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in data.items()) + " }"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }" \
            if value else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def default_of(name: str, fi: FieldInfo, unit: str) -> str:
    if fi.default_factory is not None:
        value = fi.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel) and not _is_distribution(fi.annotation):
            return "(its defaults)"
    elif fi.default is PydanticUndefined:
        return "**required**"
    else:
        value = fi.default
    text = f"`{toml_value(value)}`" if value is not None else "unset"
    if unit == "seconds" and isinstance(value, int | float) and not isinstance(value, bool):
        human = _duration(float(value))
        if human:
            text += f" ({human})"
    return text


def constraints_of(fi: FieldInfo) -> str:
    b = _bounds(fi)
    parts = []
    for key, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
        if key in b:
            parts.append(f"{sign} {toml_value(b[key])}")
    if "min_length" in b:
        n = b["min_length"]
        parts.append("not empty" if n == 1 else f"at least {n} items")
    if "max_length" in b:
        parts.append(f"at most {b['max_length']} items")
    if "pattern" in b:
        parts.append(f"matches `{b['pattern']}`")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return " ".join(rst_to_md(text).split()).replace("|", "\\|")


def field_rows(model: type[BaseModel], names: list[str], anchors: dict[type, str]) -> str:
    head = "| field | type | unit | default | constraints | description |\n" \
           "|---|---|---|---|---|---|\n"
    rows = []
    for name in names:
        fi = model.model_fields[name]
        unit = unit_of(name, fi)
        kind = "amount" if unit in ("ether", "gwei") else type_of(fi.annotation, anchors)
        rows.append(f"| `{name}` | {kind} | {unit} | "
                    f"{default_of(name, fi, unit)} | {constraints_of(fi)} | "
                    f"{_cell(fi.description or '')} |")
    return head + "\n".join(rows) + "\n"


def undescribed(model: type[BaseModel], names: list[str]) -> list[str]:
    return [n for n in names if n != "kind" and not model.model_fields[n].description]


# -- the scenario ---------------------------------------------------------------------------------
SCENARIO_INTRO = """\
# Scenario file reference

Every field of a scenario file, generated from the schema (`sumsim.scenario.schema`) and from
the config class of every plug-in registered when this site was built{plugins}.  The same
information, machine-readable for editors, is printed by `sumsim schema`.

How to read the tables:

- **unit**: money is written in **ether** (or gwei where it says so) as a number or a string
  (`"0.016666666666666666"`, exact) and held as integer wei; times are **seconds** of
  simulated time; fractions are between 0 and 1.
- **default**: what the field is when it is left out; `unset` means "none" (the description
  says what that does); **required** fields have no default.
- Unknown fields are errors everywhere: a misspelt name is reported with its dotted path.
- A section written `[[agents]]` is an array: one such table per agent, in order; refer to
  the second agent's budget as `agents[1].budget` in `--set`, sweeps and searches.

"""

GROUP_TEXT = {
    "models": ("model", "[model]", "The classifier in the contract.  `kind` picks one; "
               "left out, it is `\"perceptron\"`."),
    "mechanisms": ("incentive", "[incentive]", "The incentive mechanism: who pays what for a "
                   "contribution and who gets it back.  `kind` picks one; left out, it is "
                   "`\"deposit_refund_take\"`.  See [Mechanisms](../mechanisms/index.md)."),
    "agents": ("agents", "[[agents]]", "The participants, at least one.  Each is one address "
               "(a `sybil` runs several) with a wallet and a strategy, its `kind`."),
    "defenses": ("defenses", "[[defenses]]", "Gates on the contract's acceptance path, "
                 "consulted in order by `add_data` (any may reject; see "
                 "[write a defense](../tutorials/defense.md) for the verdicts).  Optional."),
}


class _Collector:
    """Assigns an anchor to every nested section model so types can link to it."""

    def __init__(self) -> None:
        self.anchors: dict[type, str] = {}
        self.missing: list[str] = []

    def nested(self, model: type[BaseModel]) -> list[tuple[str, type[BaseModel]]]:
        out = []
        for name, fi in model.model_fields.items():
            for arg in _union_args(fi.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel) and \
                        not _is_distribution(fi.annotation):
                    out.append((name, arg))
        return out


def _section(title: str, anchor: str, model: type[BaseModel], col: _Collector,
             intro: str = "", level: int = 2, prefix: str = "") -> str:
    names = list(model.model_fields)
    col.missing += [f"{prefix}{title}: {n}" for n in undescribed(model, names)]
    text = f"{'#' * level} `{title}` {{#{anchor}}}\n\n"
    doc = intro or (docstring(model) if _own_doc(model) else "")
    if doc:
        text += doc + "\n\n"
    text += field_rows(model, names, col.anchors) + "\n"
    for name, sub in col.nested(model):
        inner = title.strip("[]")
        text += _section(f"[{inner}.{name}]", f"{anchor}-{name}", sub, col,
                         level=level + 1, prefix=prefix)
    return text


def _own_doc(cls: Any) -> str:
    """A class's own docstring (not one inherited from pydantic's BaseModel)."""
    doc = cls.__dict__.get("__doc__") or ""
    return " ".join(rst_to_md(doc).split())


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=\.)\s", text, maxsplit=1)[0]


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def scenario_reference() -> tuple[str, list[str]]:
    """The scenario reference page and the fields that have no description."""
    import sumsim.registry as registry
    from sumsim.agents.base import AgentConfig, AttackerConfig
    from sumsim.config import Constant, Exponential, LogNormal, Normal, Uniform
    from sumsim.contract.mechanism import MechanismConfig
    from sumsim.defenses.base import DefenseConfig
    from sumsim.models.base import ModelConfig
    from sumsim.scenario.loader import BUNDLED
    from sumsim.scenario.schema import DEFAULT_KINDS, scenario_model

    model = scenario_model()
    col = _Collector()
    third = sorted({p.origin for g in registry.GROUPS for p in registry.plugins(g).values()
                    if p.origin and p.origin != "sumsim"})
    plugins = f" (including the installed packages {', '.join(third)})" if third else ""
    out = [SCENARIO_INTRO.format(plugins=plugins)]
    sections = [n for n, fi in model.model_fields.items()
                if n not in ("agents", "defenses", "model", "incentive")]
    # anchors first, so types can link to nested sections
    for name in sections:
        sub = model.model_fields[name].annotation
        col.anchors[sub] = name
        for inner, m in col.nested(sub):
            col.anchors[m] = f"{name}-{inner}"
            for inner2, m2 in col.nested(m):
                col.anchors[m2] = f"{name}-{inner}-{inner2}"
    out.append("## Sections\n\n| section | what it holds |\n|---|---|\n" + "".join(
        f"| [`[{n}]`](#{n}) | {_first_sentence(_own_doc(model.model_fields[n].annotation))} |\n"
        for n in sections) + "".join(
        f"| [`{GROUP_TEXT[g][1]}`](#{GROUP_TEXT[g][0]}) | {_first_sentence(GROUP_TEXT[g][2])} |\n"
        for g in ("models", "mechanisms", "agents", "defenses")) + "\n")
    out.append(f"Bundled scenarios, runnable by name (`sumsim run NAME`, `sumsim.load(\"NAME\")`)"
               f": {', '.join(f'`{b}`' for b in BUNDLED)}.\n\n")
    for name in ("scenario", "chain", "data", "metrics"):
        if name in sections:
            out.append(_section(f"[{name}]", name, model.model_fields[name].annotation, col))
    for name in sections:
        if name not in ("scenario", "chain", "data", "metrics"):
            out.append(_section(f"[{name}]", name, model.model_fields[name].annotation, col))
    bases: dict[str, list[tuple[str, type[BaseModel]]]] = {
        "models": [("Options every model has", ModelConfig)],
        "mechanisms": [("Options every mechanism has", MechanismConfig)],
        "agents": [("Options every agent has", AgentConfig),
                   ("Options every attacker adds", AttackerConfig)],
        "defenses": [("Options every defense has", DefenseConfig)],
    }
    for group in ("models", "mechanisms", "agents", "defenses"):
        key, title, intro = GROUP_TEXT[group]
        out.append(f"## `{title}` {{#{key}}}\n\n{intro}\n\n")
        default = DEFAULT_KINDS.get(group)
        table = registry.plugins(group)
        out.append("| kind | what it is | provided by |\n|---|---|---|\n" + "".join(
            f"| [`{k}`](#{key}-{_slug(k)}) | {_cell(p.description)}"
            f"{' (default)' if k == default else ''} | {p.origin or 'sumsim'} |\n"
            for k, p in sorted(table.items())) + "\n")
        seen: set[str] = {"kind"}
        for label, base in bases[group]:
            names = [n for n in base.model_fields if n not in seen]
            seen |= set(names)
            if not names:
                continue
            col.missing += [f"{title} {label}: {n}" for n in undescribed(base, names)]
            out.append(f"### {label} {{#{key}-common-{_slug(base.__name__)}}}\n\n"
                       + field_rows(base, names, col.anchors) + "\n")
        for kind, plugin in sorted(table.items()):
            cfg = plugin.config
            base = next((b for _, b in reversed(bases[group]) if issubclass(cfg, b)), None)
            own = [n for n in cfg.model_fields if n != "kind"
                   and (base is None or n not in base.model_fields)]
            inherits = ""
            if base is AttackerConfig:
                inherits = ("Also takes [every agent's](#agents-common-agentconfig) and "
                            "[every attacker's](#agents-common-attackerconfig) options.")
            elif base is AgentConfig:
                inherits = "Also takes [every agent's](#agents-common-agentconfig) options."
            elif base is DefenseConfig:
                inherits = "Also takes [every defense's](#defenses-common-defenseconfig) " \
                           "options."
            origin = plugin.origin or "sumsim"
            module = sys.modules.get(getattr(plugin.impl, "__module__", ""))
            doc = docstring(module) if module is not None and module.__doc__ else ""
            out.append(f"### `kind = \"{kind}\"` {{#{key}-{_slug(kind)}}}\n\n"
                       f"*{_cell(plugin.description)}* — from `{origin}`"
                       f"{', module `' + module.__name__ + '`' if module else ''}.\n\n")
            if doc:
                out.append(_demote(doc) + "\n\n")
            if own:
                if origin == "sumsim":
                    col.missing += [f"{title} {kind}: {n}" for n in undescribed(cfg, own)]
                out.append(field_rows(cfg, own, col.anchors) + "\n")
            else:
                out.append("No options of its own.\n\n")
            if inherits:
                out.append(inherits + "\n\n")
    out.append(_distributions([Constant, Normal, Exponential, Uniform, LogNormal], col))
    return "".join(out), col.missing


def _demote(md: str) -> str:
    """Module docstrings inside a section: headings (rare) pushed below level 3."""
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + 3) + " ", md, flags=re.M)


def _distributions(forms: list[type[BaseModel]], col: _Collector) -> str:
    text = ("## Distributions {#distributions}\n\n"
            "A waiting time (an agent's `interval_s`, a reviewer's `service_s`, ...) is a "
            "distribution, written as an inline table whose `dist` picks the form; every "
            "sample is in seconds:\n\n"
            "```toml\ninterval_s = { dist = \"exponential\", mean = 3600 }   # Poisson "
            "arrivals, one an hour on average\ninterval_s = { dist = \"normal\", mean = 600, "
            "sd = 1 }      # almost exactly every 10 minutes\n```\n\n"
            "| `dist` | fields | meaning |\n|---|---|---|\n")
    for form in forms:
        dist = typing.get_args(form.model_fields["dist"].annotation)[0]
        fields = ", ".join(
            f"`{n}`" + (f" ({constraints_of(fi)})" if constraints_of(fi) else "")
            for n, fi in form.model_fields.items() if n != "dist")
        meaning = docstring(form) if _own_doc(form) else ""
        text += f"| `\"{dist}\"` | {fields} | {_cell(meaning)} |\n"
    return text + "\n"


# -- sweep and search files ---------------------------------------------------------------------
def file_reference(title: str, intro: str, model: type[BaseModel], example: str
                   ) -> tuple[str, list[str]]:
    """A reference page for a TOML file described by ``model`` (its top-level fields are the
    file's tables)."""
    col = _Collector()
    for name, fi in model.model_fields.items():
        for arg in _inner_models(fi.annotation):
            col.anchors[arg] = name
    out = [f"# {title}\n\n{intro}\n\n"]
    if example:
        out.append("## Example\n\n```toml\n" + example.strip("\n") + "\n```\n\n")
    out.append("## Tables\n\n| table | type | default | description |\n|---|---|---|---|\n")
    for name, fi in model.model_fields.items():
        unit = unit_of(name, fi)
        desc = fi.description or _attr_doc(model, name)
        if not desc:
            col.missing.append(f"{title}: {name}")
        out.append(f"| `{_table_title(name, fi.annotation)}` | "
                   f"{type_of(fi.annotation, col.anchors)} | "
                   f"{default_of(name, fi, unit)} | {_cell(desc)} |\n")
    out.append("\n")
    for name, fi in model.model_fields.items():
        for arg in _inner_models(fi.annotation):
            names = list(arg.model_fields)
            col.missing += [f"{title} {name}: {n}" for n in undescribed(arg, names)]
            out.append(f"## `{_table_title(name, fi.annotation)}` {{#{name}}}\n\n")
            doc = docstring(arg) if _own_doc(arg) else ""
            if doc:
                out.append(doc + "\n\n")
            out.append(field_rows(arg, names, col.anchors) + "\n")
    return "".join(out), col.missing


def _inner_models(annotation: Any) -> list[type[BaseModel]]:
    found = []
    stack = [annotation]
    while stack:
        a = stack.pop()
        if isinstance(a, type) and issubclass(a, BaseModel):
            found.append(a)
        else:
            stack += list(typing.get_args(a))
    return found


def _table_title(name: str, annotation: Any) -> str:
    if typing.get_origin(annotation) is list:
        return f"[[{name}]]"
    if typing.get_origin(annotation) is dict:
        (_, val) = typing.get_args(annotation)
        if isinstance(val, type) and issubclass(val, BaseModel):
            return f'[{name}."PATH"]'
    return f"[{name}]"


def _attr_doc(model: type[BaseModel], name: str) -> str:
    """The ``#:`` comment above a field in its class body (where a field documents itself that
    way)."""
    import inspect

    try:
        src = inspect.getsource(model)
    except (OSError, TypeError):
        return ""
    lines = src.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"\s+{name}\s*:", line):
            doc = []
            j = i - 1
            while j >= 0 and lines[j].strip().startswith("#:"):
                doc.insert(0, lines[j].strip()[2:].strip())
                j -= 1
            return " ".join(doc)
    return ""


def literal_block(doc: str) -> str:
    """The first ``::`` literal block of a docstring (a file example)."""
    lines = (doc or "").splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith("::"):
            block = []
            for ln in lines[i + 1:]:
                if ln.strip() and not ln.startswith(" "):
                    break
                block.append(ln)
            body = [ln for ln in block if ln.strip()]
            indent = min(len(ln) - len(ln.lstrip()) for ln in body)
            return "\n".join(ln[indent:] for ln in block).strip("\n")
    return ""


def sweep_reference() -> tuple[str, list[str]]:
    import sumsim.sweeps as sweeps

    return file_reference(
        "Sweep file reference",
        "A sweep file names a base scenario, a grid and/or list of dotted-path overrides, and "
        "a number of replicate seeds; `sumsim sweep FILE` runs it (see the "
        "[sweeps guide](../guide/sweeps.md)).  Generated from `sumsim.sweeps.SweepFile`; "
        "`sumsim schema --sweep` prints the same as JSON Schema.\n\n"
        "Override paths are dotted paths into the scenario (`\"agents[1].budget\"`, "
        "`\"incentive.refund_wait_s\"`, `\"agents[0].interval_s.mean\"`) and take values "
        "written as in the scenario file.",
        sweeps.SweepFile, literal_block(sweeps.__doc__ or ""))


def search_reference() -> tuple[str, list[str]]:
    import sumsim.searches as searches

    return file_reference(
        "Search file reference",
        "A search file names a base scenario, the parameters to search (`[space]`), one or "
        "more objectives and optional constraints; `sumsim search FILE` runs it (see the "
        "[search guide](../guide/search.md)).  Generated from `sumsim.searches.SearchFile`; "
        "`sumsim schema --search` prints the same as JSON Schema.\n\n"
        "Objectives and constraints name summary metrics as a sweep table spells them "
        "(dotted paths of `summary.json`, with an `_eth` twin of every `_wei` amount; see "
        "[outputs](../guide/outputs.md#the-sweep-table)).",
        searches.SearchFile, literal_block(searches.__doc__ or ""))
