"""Pages whose examples run during the build, so every number and figure on them is real.

In a Markdown page:

- a fenced block ```` ```console exec ```` runs each ``$ command`` line in a shell (``sumsim``
  is the one of the building interpreter) and shows its output after it; ``exec=N`` expects
  exit code N (default 0), ``head=N`` keeps the first N output lines;
- ```` ```python exec ```` runs the code (one namespace per page) and shows what it printed,
  and the value of a last bare expression, as a notebook would;
- ```` ```toml file=PATH ```` (any language) writes the block to ``PATH`` first, so a later
  command can use it; it is shown with the path as its title;
- an image ``![caption](gen:PATH)`` is the file ``PATH`` written by an earlier block, copied
  into the site next to the page.

A jupytext-style "percent" script (``# %%`` code cells, ``# %% [markdown]`` cells of ``# ``
comment lines) is turned into such a page and run the same way.

All blocks of the site run in order in one temporary working folder; a block that fails (or
exits with a code other than expected) stops the build with the block and its output.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FENCE = re.compile(r"^```(?P<lang>[\w+-]*)(?P<opts>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$",
                   re.M | re.S)
IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\(gen:(?P<path>[^)\s]+)\)")


class ExecError(RuntimeError):
    pass


@dataclass
class Executed:
    markdown: str
    #: (path in the site relative to docs/, bytes)
    assets: list[tuple[str, bytes]] = field(default_factory=list)
    seconds: float = 0.0


def _options(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in shlex.split(text):
        key, _, value = part.partition("=")
        out[key] = value
    return out


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["COLUMNS"] = "100"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("FORCE_COLOR", None)
    env["NO_COLOR"] = "1"
    return env


def run_console(body: str, opts: dict[str, str], workdir: Path, where: str) -> str:
    expected = int(opts.get("exec") or 0)
    head = int(opts["head"]) if opts.get("head") else None
    shown: list[str] = []
    for line in body.splitlines():
        if not line.startswith("$ "):
            continue
        cmd = line[2:]
        proc = subprocess.run(cmd, shell=True, cwd=workdir, env=_env(workdir),
                              capture_output=True, text=True, timeout=600)
        output = (proc.stdout + proc.stderr).rstrip("\n")
        if proc.returncode != expected:
            raise ExecError(f"{where}: `{cmd}` exited with {proc.returncode} "
                            f"(expected {expected}):\n{output}")
        lines = output.splitlines() if output else []
        if head is not None and len(lines) > head:
            lines = lines[:head] + ["..."]
        shown += [line, *lines]
    return "```console\n" + "\n".join(shown) + "\n```"


def run_python(code: str, namespace: dict[str, Any], workdir: Path, where: str) -> str:
    """Run ``code``; what it printed (and the repr of a last bare expression)."""
    tree = ast.parse(code)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    buf = io.StringIO()
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        with contextlib.redirect_stdout(buf):
            exec(compile(tree, where, "exec"), namespace)
            if last is not None:
                value = eval(compile(last, where, "eval"), namespace)
                if value is not None:
                    print(repr(value))
    except Exception as e:
        raise ExecError(f"{where}: {type(e).__name__}: {e}\n{buf.getvalue()}") from e
    finally:
        os.chdir(cwd)
    return buf.getvalue().rstrip("\n")


def _polars_display() -> None:
    try:
        import polars as pl

        pl.Config.set_tbl_rows(30)
        pl.Config.set_tbl_cols(12)
        pl.Config.set_fmt_str_lengths(60)
        pl.Config.set_tbl_width_chars(100)
        pl.Config.set_tbl_hide_dataframe_shape(True)
    except ImportError:  # pragma: no cover
        pass


def execute_markdown(markdown: str, page: str, workdir: Path,
                     source: Path | None = None) -> Executed:
    """Run the executable blocks of a page (see the module docstring); ``source`` is the file
    the code comes from (its ``__file__``)."""
    start = time.perf_counter()
    _polars_display()
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    if source is not None:
        namespace["__file__"] = str(source)
    out: list[str] = []
    pos = 0
    for n, m in enumerate(FENCE.finditer(markdown), 1):
        out.append(markdown[pos:m.start()])
        pos = m.end()
        lang, body = m.group("lang"), m.group("body")
        opts = _options(m.group("opts"))
        where = f"{page} (block {n})"
        if "file" in opts:
            target = workdir / opts["file"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body, encoding="utf-8")
            out.append(f'```{lang} title="{opts["file"]}"\n{body}```')
        elif "exec" in opts and lang == "console":
            out.append(run_console(body, opts, workdir, where))
        elif "exec" in opts and lang == "python":
            printed = run_python(body, namespace, workdir, where)
            out.append(f"```python\n{body}```")
            if printed:
                out.append(f"\n\n```text\n{printed}\n```")
        else:
            out.append(m.group(0))
    out.append(markdown[pos:])
    text = "".join(out)
    return _images(text, page, workdir, start)


def _images(text: str, page: str, workdir: Path, start: float) -> Executed:
    stem = Path(page).with_suffix("")
    assets: list[tuple[str, bytes]] = []

    def copy(m: re.Match[str]) -> str:
        src = workdir / m.group("path")
        if not src.is_file():
            raise ExecError(f"{page}: image {m.group('path')} was not written by any block")
        name = f"{len(assets) + 1}-{src.name}"
        assets.append((f"{stem}/{name}", src.read_bytes()))
        return f"![{m.group('alt')}]({stem.name}/{name})"

    text = IMAGE.sub(copy, text)
    return Executed(text, assets, time.perf_counter() - start)


# -- percent scripts -----------------------------------------------------------------------------
def percent_to_markdown(source: str) -> str:
    """A ``# %%`` script as a page of Markdown and ```` ```python exec ```` blocks."""
    cells: list[tuple[str, list[str]]] = []
    kind, lines = "code", []
    for line in source.splitlines():
        if line.startswith("# %%"):
            cells.append((kind, lines))
            kind = "markdown" if "[markdown]" in line else "code"
            lines = []
        else:
            lines.append(line)
    cells.append((kind, lines))
    parts: list[str] = []
    for kind, lines in cells:
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if not lines:
            continue
        if kind == "markdown":
            parts.append("\n".join(ln[2:] if ln.startswith("# ") else ln.lstrip("#")
                                   for ln in lines))
        elif not all(ln.startswith("#") for ln in lines if ln.strip()) or parts:
            parts.append("```python exec\n" + "\n".join(lines) + "\n```")
    return "\n\n".join(parts) + "\n"
