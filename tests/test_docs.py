"""The documentation site builds in strict mode: every link and anchor resolves, every scenario
field and output column is described, and every example on it (the quickstart, the first
study, the notebook) runs.  Skipped when MkDocs is not installed (`pip install -e '.[docs]'`;
the test extra installs it, so CI builds the site)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    env = {**os.environ, "NO_COLOR": "1"}
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                          str(site), "--config-file", str(ROOT / "mkdocs.yml")],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    for page in ("index.html", "quickstart/index.html", "reference/scenario/index.html",
                 "reference/sweep-file/index.html", "reference/search-file/index.html",
                 "tutorials/first-study/index.html", "notebooks/reproduce-study/index.html",
                 "api/plugin/index.html"):
        assert (site / page).is_file(), page
    scenario = (site / "reference/scenario/index.html").read_text(encoding="utf-8")
    # generated from the registry: every built-in kind has its section
    import sumsim.registry as registry

    for group, key in (("agents", "agents"), ("defenses", "defenses"), ("models", "model"),
                       ("mechanisms", "incentive")):
        for kind in registry.plugins(group):
            assert f'id="{key}-{kind.replace("_", "-")}"' in scenario, (group, kind)
    # the executed pages carry their figures
    assert list((site / "quickstart").glob("*figure.png"))
    assert list((site / "notebooks/reproduce-study").glob("*.png"))
    api = (site / "api/sumsim/index.html").read_text(encoding="utf-8")
    assert "sumsim.api.run" in api and ":class:" not in api
