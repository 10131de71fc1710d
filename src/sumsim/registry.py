"""One registry for the four kinds of plug-in: agents, defenses, models, incentive mechanisms.

Built-ins and third-party packages register the same way: an entry point in one of the groups
``sumsim.agents``, ``sumsim.defenses``, ``sumsim.models`` or ``sumsim.mechanisms`` naming a
:class:`Plugin` (or a module holding one as ``plugin``)::

    [project.entry-points."sumsim.agents"]
    sleeper = "my_package.sleeper:plugin"

A plug-in is a config section (a pydantic model with a literal ``kind``) and the class that
runs it.  The scenario schema builds its unions from what is registered here, and the engine
looks kinds up here; neither names a concrete kind.  Entry points are read once, lazily, in
sorted order so that everything built from them is deterministic.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, distribution, entry_points
from types import ModuleType
from typing import Any, TypeVar

from pydantic import BaseModel

from sumsim.errors import InputError

#: The plug-in groups; each is also the name of the built-ins' subpackage.
GROUPS = ("agents", "defenses", "models", "mechanisms")


@dataclass(frozen=True)
class Plugin:
    """A kind of agent, defense, model or mechanism: its config section and implementation.

    ``kind`` is read from the config's ``kind`` field (a ``Literal``), so it is written once.
    ``description`` defaults to the first line of the implementation's docstring.
    """

    config: type[BaseModel]
    impl: Any
    description: str = ""
    kind: str = field(default="", compare=False)
    #: The distribution that provides it (filled in at registration).
    origin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # Checked here, where a plug-in is declared, rather than where a run first trips on it.
        from sumsim.config import PluginConfig

        if not (isinstance(self.config, type) and issubclass(self.config, PluginConfig)):
            raise TypeError(f"a Plugin's config must be a subclass of sumsim.config.PluginConfig "
                            f"(or of a strategy's config such as AgentConfig), got "
                            f"{self.config!r}")
        if not isinstance(self.impl, type):
            raise TypeError(f"a Plugin's implementation must be a class, got {self.impl!r}")
        if not self.kind:
            object.__setattr__(self, "kind", kind_of(self.config))
        if not self.description:
            doc = (getattr(self.impl, "__doc__", None) or "").strip()
            object.__setattr__(self, "description", doc.splitlines()[0] if doc else "")


def kind_of(config: type[BaseModel]) -> str:
    """The literal value of a config class's ``kind`` field."""
    fld = config.model_fields.get("kind")
    args = typing.get_args(fld.annotation) if fld is not None else ()
    if fld is None or len(args) != 1 or not isinstance(args[0], str):
        raise TypeError(f"{config.__name__} needs a field `kind: Literal['<name>']`")
    return args[0]


_TABLES: dict[str, dict[str, Plugin]] = {g: {} for g in GROUPS}
_loaded = False
#: Entry points that could not be registered, each as one line saying which and why.
broken: list[str] = []
#: Bumped on every registration, so caches built from the registry (the schema) can expire.
version = 0


class PluginWarning(UserWarning):
    """An installed plug-in could not be registered (it is left out; the rest work)."""


#: Each group's base classes, as (module, implementation base, config base): a plug-in's
#: classes must derive from them (named, not imported: the bases' modules import this one).
_BASES = {
    "agents": ("sumsim.agents.base", "Agent", "AgentConfig"),
    "defenses": ("sumsim.defenses.base", "Gate", "DefenseConfig"),
    "models": ("sumsim.models.base", "Model", "ModelConfig"),
    "mechanisms": ("sumsim.contract.mechanism", "IncentiveMechanism", "MechanismConfig"),
}


def _derives(cls: type, module: str, name: str) -> bool:
    return any(c.__module__ == module and c.__qualname__ == name for c in cls.__mro__)


def _check_group(group: str, plugin: Plugin) -> None:
    """Refuse a plug-in whose classes are not of ``group`` (an agent registered as a
    mechanism would otherwise fail deep inside a run)."""
    module, impl_base, config_base = _BASES[group]
    wrong = [f"its {what} {cls.__module__}.{cls.__qualname__} does not derive from "
             f"{module}.{base}" for what, cls, base in (("implementation", plugin.impl,
                                                         impl_base),
                                                        ("config", plugin.config, config_base))
             if not _derives(cls, module, base)]
    if wrong:
        raise TypeError(f"not a plug-in of the group {group!r}: " + "; ".join(wrong)
                        + f" (sumsim.plugin.{impl_base} and {config_base})")


def register(group: str, plugin: Plugin, origin: str = "") -> None:
    """Add a plug-in to ``group`` (what an entry point does; also usable from code and tests).
    The installed plug-ins are registered first, so code cannot take a kind from them."""
    global version
    if group not in _TABLES:
        raise ValueError(f"unknown plug-in group {group!r}; expected one of {GROUPS}")
    _check_group(group, plugin)
    load()
    if origin:
        plugin = replace(plugin, origin=origin)
    table = _TABLES[group]
    old = table.get(plugin.kind)
    if old is not None and old.impl is not plugin.impl:
        raise ValueError(f"{plugin.kind!r} is already registered by {old.origin or 'sumsim'}")
    table[plugin.kind] = plugin
    version += 1


def unregister(group: str, kind: str) -> None:
    global version
    _TABLES[group].pop(kind, None)
    version += 1


def _as_plugin(obj: Any, where: str) -> Plugin:
    if isinstance(obj, ModuleType):
        obj = getattr(obj, "plugin", None)
    if not isinstance(obj, Plugin):
        raise TypeError(f"{where} does not name a sumsim Plugin (or a module with `plugin`)")
    return obj


def _builtin_fallback(group: str) -> None:
    """Running from a source tree without installed metadata: scan the built-in subpackage."""
    pkg = importlib.import_module(f"sumsim.{group}")
    for info in pkgutil.iter_modules(pkg.__path__):
        mod = importlib.import_module(f"sumsim.{group}.{info.name}")
        if isinstance(getattr(mod, "plugin", None), Plugin):
            register(group, mod.plugin, "sumsim")


def load() -> None:
    """Register every installed entry point of the four groups (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    try:
        distribution("sumsim")
        installed = True
    except PackageNotFoundError:
        installed = False
    every = entry_points()  # (one scan of the installed distributions for the four groups)
    names: dict[int, str] = {}
    for group in GROUPS:
        found = [(ep, _origin(ep, names)) for ep in every.select(group=f"sumsim.{group}")]
        # sumsim's own first: a third-party plug-in reusing a built-in kind is the one refused
        found.sort(key=lambda e: (e[1] != "sumsim", e[0].name, e[0].value))
        if not installed:
            _builtin_fallback(group)
        for ep, origin in found:
            _register_entry_point(group, ep, origin)


def _origin(ep: Any, names: dict[int, str]) -> str:
    """The name of the distribution ``ep`` comes from (its value when none), read once per
    distribution into ``names`` (reading it parses the distribution's metadata file)."""
    dist = ep.dist
    if dist is None:
        return str(ep.value)
    name = names.get(id(dist))
    if name is None:
        name = names[id(dist)] = str(dist.name)
    return name


def _register_entry_point(group: str, ep: Any, origin: str) -> None:
    """Register one entry point; one that fails (import error, not a Plugin, a kind that is not
    its name or is taken) is left out with a :class:`PluginWarning` naming it, so that one broken
    package does not stop every command."""
    import warnings

    where = f"entry point {ep.name} = {ep.value} (group sumsim.{group}, from {origin})"
    try:
        plugin = _as_plugin(ep.load(), where)
        if plugin.kind != ep.name:
            raise ValueError(f"its kind is {plugin.kind!r}: name the entry point after the kind "
                             "(scenarios use the kind)")
        register(group, plugin, origin)
    except Exception as e:  # (anything a third-party module may raise on import)
        line = f"{where}: left out: {type(e).__name__}: {e}"
        broken.append(line)
        warnings.warn(line, PluginWarning, stacklevel=2)


def plugins(group: str) -> dict[str, Plugin]:
    """Every registered plug-in of ``group``, by kind."""
    load()
    return _TABLES[group]


def get(group: str, kind: str) -> Plugin:
    """The plug-in ``kind`` of ``group`` (a KeyError listing the known kinds otherwise)."""
    table = plugins(group)
    if kind not in table:
        mine = [line for line in broken if f"(group sumsim.{group}," in line]
        left_out = f"; left out: {mine}" if mine else ""
        raise KeyError(f"no {group[:-1]} kind {kind!r}; installed: {sorted(table)}{left_out}")
    return table[kind]


#: Singular names of the groups, for messages.
_SINGULAR = {"agents": "agent", "defenses": "defense", "models": "model",
             "mechanisms": "mechanism"}


def _owners() -> dict[str, list[tuple[str, str, str]]]:
    """Module -> (class qualname, group, kind) of every registered plug-in's classes."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for group, table in _TABLES.items():
        for kind, p in table.items():
            for cls in (p.impl, p.config):
                out.setdefault(cls.__module__, []).append((cls.__qualname__, group, kind))
    return out


def culprit(e: BaseException) -> tuple[str, str, Plugin, str] | None:
    """The plug-in whose code ``e`` comes from, as (class.method qualname, group, plug-in,
    module of that code):
    the class a :class:`~sumsim.errors.PluginBug` names, else the innermost frame of the
    traceback that runs a method of a registered plug-in's class (its implementation or its
    config).  None when no plug-in's code is on the traceback."""
    named = getattr(e, "plugin_type", None)
    if isinstance(named, type):
        by_impl = {p.impl: (group, p) for group, table in _TABLES.items()
                   for p in table.values()}
        # (the most derived registered class: a subclass of a built-in is its own plug-in)
        found = next((by_impl[c] for c in named.__mro__ if c in by_impl), None)
        if found is not None:
            return named.__qualname__, found[0], found[1], named.__module__
    owners = _owners()
    tb = e.__traceback__
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        module = frame.f_globals.get("__name__", "")
        qualname = frame.f_code.co_qualname
        for cls_name, group, kind in owners.get(module, ()):
            if qualname == cls_name or qualname.startswith(cls_name + "."):
                return qualname, group, _TABLES[group][kind], module
    return None


def blame(e: BaseException) -> BaseException:
    """Add a note to ``e`` naming the plug-in whose code raised it (:func:`culprit`), as
    ``in Class.method, of the <group> plug-in '<kind>' (module)``.  Nothing is added when no
    plug-in's code is on the traceback, or when a note or the message already names the
    plug-in's module (the agents' turns and the defenses' checks name theirs, with the
    address or defense; a :class:`~sumsim.errors.PluginBug` names its class).  Returns ``e``,
    to be re-raised."""
    found = culprit(e)
    if found is None:
        return e
    qualname, group, plugin, module = found
    notes = getattr(e, "__notes__", None) or []
    if not any(f"{module})" in n or f"{module}." in n for n in [*notes, str(e)]):
        e.add_note(f"in {qualname}, of the {_SINGULAR[group]} plug-in {plugin.kind!r} "
                   f"({module})")
    return e


F = TypeVar("F", bound=Callable[..., Any])


def names_plugins(fn: F) -> F:
    """Decorator: an exception escaping ``fn`` (other than bad input, :class:`InputError`)
    leaves with :func:`blame`'s note naming the plug-in whose code raised it."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError:
            raise
        except Exception as e:
            blame(e)
            raise

    return typing.cast(F, call)
