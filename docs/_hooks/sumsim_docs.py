"""MkDocs hooks that generate the reference pages and run the examples of the site.

- ``reference/scenario.md``, ``reference/sweep-file.md``, ``reference/search-file.md``: from
  the pydantic models (see ``schema_ref``), including plug-ins installed where the site is
  built;
- ``reference/cli.md``: the ``--help`` of every command;
- pages with executable blocks, and the jupytext-style scripts in ``docs/notebooks/``, are run
  (see ``execute``); their outputs and figures are put in the page;
- ``<!-- columns: FILE -->`` on a page becomes the table of that output file's columns, read
  from the run the quickstart page made (meanings from ``columns``);
- API pages: Sphinx roles left in docstrings (``:class:`X```) are shown as plain code, and
  the ``::`` that introduces a literal block as a colon.

A field without a description, an output column without a meaning, or an example that fails
is reported; ``mkdocs build --strict`` then fails.
"""

from __future__ import annotations

import logging
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).parent))

import columns  # noqa: E402
import execute  # noqa: E402
import schema_ref  # noqa: E402

log = logging.getLogger("mkdocs.hooks.sumsim")

#: Pages with executable blocks run in this order (later pages may read what earlier ones
#: wrote); any other page with such blocks runs after them, in path order.
ORDER = ("quickstart.md", "guide/outputs.md", "tutorials/first-study.md")

_state: dict[str, Any] = {"pages": {}, "cache": {}, "workdir": None, "timings": {}}


def _workdir() -> Path:
    if _state["workdir"] is None:
        _state["tmp"] = tempfile.TemporaryDirectory(prefix="sumsim-docs-")
        _state["workdir"] = Path(_state["tmp"].name)
    return Path(_state["workdir"])


def _generated(config: Any, path: str, content: str | bytes) -> File:
    return File.generated(config, path, content=content)


def _add(files: Files, config: Any, path: str, content: str | bytes) -> None:
    old = files.get_file_from_path(path)
    if old is not None:
        files.remove(old)
    files.append(_generated(config, path, content))


def on_files(files: Files, config: Any) -> Files:
    start = time.perf_counter()
    _references(files, config)
    _state["timings"]["references"] = time.perf_counter() - start
    _run_pages(files, config)
    return files


# -- references -------------------------------------------------------------------------------
def _references(files: Files, config: Any) -> None:
    pages = {
        "reference/scenario.md": schema_ref.scenario_reference,
        "reference/sweep-file.md": schema_ref.sweep_reference,
        "reference/search-file.md": schema_ref.search_reference,
    }
    for path, make in pages.items():
        text, missing = make()
        for m in missing:
            log.warning(f"{path}: no description for {m} (add Field(description=...))")
        _add(files, config, path, text)
    _add(files, config, "reference/cli.md", cli_reference())


def cli_reference() -> str:
    import argparse
    import os

    from sumsim.cli import build_parser

    os.environ["COLUMNS"] = "100"
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = ["# Command line reference\n\n",
           "Generated from the command's own parser: what `sumsim COMMAND --help` prints.\n\n",
           "```text\n" + parser.format_help().rstrip() + "\n```\n\n",
           "Exit codes: 0 success, 1 a run failed unexpectedly (or `sumsim invariants` found "
           "a violation, or with `--require` a line it never ran, or a sweep's or search's "
           "worker process was killed), 2 bad input "
           "(the message names the file and field), 3 the wall-clock allowance "
           "(`--max-wall-s`) used up, 130 interrupted.\n\n"]
    helps = {a.dest: a.help for a in sub._choices_actions}
    for name, p in sub.choices.items():
        out.append(f"## `sumsim {name}`\n\n{helps.get(name, '')}\n\n"
                   f"```text\n{p.format_help().rstrip()}\n```\n\n")
    return "".join(out)


# -- executed pages -----------------------------------------------------------------------------
def _run_pages(files: Files, config: Any) -> None:
    workdir = _workdir()
    docs = Path(config["docs_dir"])
    notebooks = sorted((docs / "notebooks").glob("*.py"))
    candidates: list[tuple[str, str, Path | None]] = []
    for f in files.documentation_pages():
        text = f.content_string
        if ("exec" in text or "](gen:" in text) and (
                execute.FENCE.search(text) or execute.IMAGE.search(text)):
            candidates.append((f.src_uri, text, None))
    order = {p: i for i, p in enumerate(ORDER)}
    candidates.sort(key=lambda c: (order.get(c[0], len(order)), c[0]))
    jobs = candidates + [
        (f"notebooks/{nb.stem}.md", execute.percent_to_markdown(nb.read_text("utf-8")), nb)
        for nb in notebooks]
    for src_uri, text, source in jobs:
        key = (src_uri, text)
        done = _state["cache"].get(key)
        if done is None:
            try:
                done = execute.execute_markdown(text, src_uri, workdir, source)
            except execute.ExecError as e:
                raise PluginError(f"docs example failed in {e}") from None
            _state["cache"][key] = done
            _state["timings"][src_uri] = done.seconds
        _state["pages"][src_uri] = done.markdown
        if src_uri.startswith("notebooks/"):
            _add(files, config, src_uri, done.markdown)
        for path, data in done.assets:
            _add(files, config, path, data)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    text = _state["pages"].get(page.file.src_uri, markdown)
    return COLUMNS.sub(lambda m: _columns_table(m.group(1), page.file.src_uri), text)


COLUMNS = re.compile(r"<!-- columns: (\S+) -->")
TABLES = {"timeseries.parquet": columns.TIMESERIES, "transactions.parquet": columns.TRANSACTIONS,
          "contributions.parquet": columns.CONTRIBUTIONS,
          "counterfactual.parquet": columns.COUNTERFACTUAL}


def _columns_table(path: str, page: str) -> str:
    """The columns of a file the examples wrote, with their Parquet type, unit and meaning."""
    src = _workdir() / path
    if not src.exists():
        raise PluginError(f"{page}: {path} was not written by any example before this page")
    if path.endswith(".json"):
        import json

        summary = json.loads(src.read_text())
        for p in columns.summary_undocumented(summary):
            log.warning(f"{page}: summary.json entry {p} has no meaning in docs/_hooks/"
                        "columns.py")
        rows = [f"| `{p}` | {u} | {m} |" for p, u, m in columns.SUMMARY]
        return "| entry | unit | meaning |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    import polars as pl

    table = TABLES[Path(path).name]
    schema = pl.read_parquet_schema(src)
    rows = []
    seen: set[str] = set()
    for name, dtype in schema.items():
        found = columns.describe(table, name)
        if found is None:
            log.warning(f"{page}: column {name} of {Path(path).name} has no meaning in "
                        "docs/_hooks/columns.py")
            found = ("", "")
        pattern = next(p for p, _, _ in table if columns.fnmatch.fnmatchcase(name, p)) \
            if columns.describe(table, name) else name
        if pattern in seen:
            continue
        seen.add(pattern)
        shown = pattern.replace("*", "NAME") if "*" in pattern else name
        rows.append(f"| `{shown}` | `{_dtype(dtype)}` | {found[0]} | {found[1]} |")
    extra = [f"| `{p.replace('*', 'NAME')}` | | {u} | {m} |" for p, u, m in table
             if p not in seen and p not in schema]
    return ("| column | type | unit | meaning |\n|---|---|---|---|\n" + "\n".join(rows + extra)
            + "\n")


def _dtype(dtype: Any) -> str:
    text = str(dtype)
    return {"String": "string", "Int64": "int64", "Float64": "float64",
            "Boolean": "bool"}.get(text, text.replace("Decimal(precision=38, scale=0)",
                                                      "decimal(38,0)"))


# -- API pages ----------------------------------------------------------------------------------
ROLE_HTML = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):<code>~?([^<]*)</code>")


def on_page_content(html: str, page: Any, config: Any, files: Files) -> str:
    if page.file.src_uri.startswith("api/"):
        html = ROLE_HTML.sub(lambda m: f"<code>{m.group(1)}</code>", html)
        # a reST literal-block marker ("... like this::") before the code block it introduces
        html = html.replace("::</p>", ":</p>")
    return html


def on_post_build(config: Any) -> None:
    t = _state["timings"]
    if t:
        log.info("sumsim docs: " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items()))
