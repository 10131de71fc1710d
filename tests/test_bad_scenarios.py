"""Malformed scenario files: `sumsim validate` exits 2 with one line naming the file and field.

Each file in ``tests/bad_scenarios/`` is a small valid scenario with one thing wrong (said in its
first line).  The table gives the dotted field path the message must name (alternatives where a
cross-field rule may fairly be reported at the section or at one of its fields) and a fragment
of what the message must say.  For TOML syntax errors there is no field; the line is named.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sumsim.cli import main
from sumsim.errors import InputError

BAD = Path(__file__).parent / "bad_scenarios"

# (file, accepted field paths or None for a syntax error, fragments the message must contain)
CASES: list[tuple[str, tuple[str, ...] | None, tuple[str, ...]]] = [
    ("wrong_type_block_time.toml", ("chain.block_time_s",), ("number", "'twelve'")),
    ("list_seed.toml", ("scenario.seed",), ("integer",)),
    ("unknown_section.toml", ("network",), ("unknown field",)),
    ("unknown_key_in_section.toml", ("chain.block_time",), ("unknown field",)),
    ("unknown_key_in_agent.toml", ("agents[1].greed",), ("unknown field",)),
    ("unknown_agent_kind.toml", ("agents[0].kind", "agents[0]"),
     ("'saboteur'", "'honest'", "'label_flip'")),
    ("missing_agent_name.toml", ("agents[0].name",), ("required",)),
    ("missing_agent_balance.toml", ("agents[0].balance",), ("required",)),
    ("negative_balance.toml", ("agents[0].balance",), ("negative",)),
    ("too_many_decimals.toml", ("agents[0].max_deposit",), ("decimal places",)),
    ("negative_gas_price.toml", ("chain.gas_price_gwei",), ("negative",)),
    ("bad_distribution_name.toml", ("agents[0].interval_s.dist", "agents[0].interval_s"),
     ("'poisson'", "'normal'", "'exponential'")),
    ("distribution_missing_parameter.toml", ("agents[0].interval_s.sd",), ("required",)),
    ("uniform_high_below_low.toml", ("agents[0].interval_s", "agents[0].interval_s.high"),
     ("high", "low")),
    ("init_train_fraction_one.toml", ("data.init_train_fraction",), ("less than 1",)),
    ("duplicate_agent_names.toml", ("agents", "agents[1].name"), ("unique", "'good'")),
    ("refund_wait_after_any_address_wait.toml",
     ("incentive", "incentive.refund_wait_s", "incentive.any_address_claim_wait_s"),
     ("refund_wait_s", "any_address_claim_wait_s")),
    ("unknown_dataset_kind.toml", ("data.dataset",), ("'mnist'", "'csv'")),
    ("csv_without_path.toml", ("data.path", "data"), ("data.path",)),
    ("invalid_toml.toml", None, ("TOML", "line 3")),
    ("empty_agents.toml", ("agents",), ("at least 1",)),
    ("owner_not_an_agent.toml", ("incentive.owner",), ("'alice'", "agent")),
    ("tx_gas_limit_above_block_limit.toml",
     ("chain", "chain.tx_gas_limit", "chain.block_gas_limit"),
     ("tx_gas_limit", "block_gas_limit")),
    ("mistake_rate_above_one.toml", ("agents[0].mistake_rate",), ("1", "1.5")),
]


def test_table_covers_every_file() -> None:
    on_disk = sorted(p.name for p in BAD.glob("*.toml"))
    assert sorted(name for name, _, _ in CASES) == on_disk
    assert len(on_disk) >= 18
    for p in BAD.glob("*.toml"):
        first = p.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# Wrong: "), p.name


def one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    out = capsys.readouterr()
    assert out.out == ""
    lines = out.err.splitlines()
    assert len(lines) == 1, out.err
    assert out.err == lines[0] + "\n"
    return lines[0]


@pytest.mark.parametrize(("name", "fields", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_validate_names_file_and_field(capsys: pytest.CaptureFixture[str], name: str,
                                       fields: tuple[str, ...] | None,
                                       fragments: tuple[str, ...]) -> None:
    path = str(BAD / name)
    line = one_line(capsys, ["validate", path])
    assert line.startswith(path + ": "), line
    rest = line[len(path) + 2:]
    if fields is not None:
        where = rest.split(": ", 1)[0]
        assert where in fields, f"field path {where!r}, expected one of {fields}: {line}"
    for fragment in fragments:
        assert fragment in rest, f"{fragment!r} missing from: {line}"
    # values are quoted once, not twice
    assert "\"'" not in line, line


def test_validate_reports_each_bad_file_and_keeps_going(capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    good = Path(__file__).parents[1] / "scenarios" / "quickstart.toml"
    bad = [BAD / "negative_balance.toml", BAD / "invalid_toml.toml"]
    assert main(["validate", str(bad[0]), str(good), str(bad[1])]) == 2
    out = capsys.readouterr()
    assert out.out.startswith(f"{good}: ok")
    errs = out.err.splitlines()
    assert len(errs) == 2
    assert errs[0].startswith(f"{bad[0]}: agents[0].balance: ")
    assert errs[1].startswith(f"{bad[1]}: ")


def test_validate_checks_sweep_and_search_files_without_running(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A sweep file is validated as ``sumsim sweep`` would before its first run (every
    point's scenario), a search file as ``sumsim search`` would; nothing runs."""
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('[sweep]\nbase = "quickstart"\nseeds = 3\n[grid]\n'
                     '"agents[1].budget" = [100, 1000]\n', encoding="utf-8")
    search = Path(__file__).parents[1] / "benchmarks" / "search" / "quick.toml"
    assert main(["validate", str(sweep), str(search)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{sweep}: ok (sweep sweep, 6 runs)", f"{search}: ok (search quick, 3 "
                     "parameters)"]
    assert not (tmp_path / "sumsim-out").exists() and sorted(tmp_path.iterdir()) == [sweep]
    # a point that breaks the base scenario is named, as the sweep would name it
    sweep.write_text('[sweep]\nbase = "quickstart"\n[grid]\n"agents[1].budget" = [100, -5]\n',
                     encoding="utf-8")
    line = one_line(capsys, ["validate", str(sweep)])
    assert line.startswith(f"{sweep}: point {{'agents[1].budget': -5}}")
    assert "agents[1].budget: must not be negative" in line
    # --set edits scenario files only
    line = one_line(capsys, ["validate", str(search), "--set", "seed=2"])
    assert line.startswith(f"{search}: --set: --set changes scenario files")
    assert line.endswith("in its own tables: [overrides] (and searches [space])")
    line = one_line(capsys, ["validate", str(sweep), "--set", "seed=2"])
    assert line.endswith("in its own tables: [grid] and [[points]]")  # (no [overrides])


def test_a_bad_set_path_names_each_file_it_failed_on(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    assert main(["validate", "quickstart", "mechanisms-drt", "--set",
                 "agents[5].balance=5"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["quickstart", "mechanisms-drt"]
    assert all("--set agents[5].balance: no item '5'" in ln for ln in lines)


def test_switching_a_kind_alone_with_set_says_to_replace_the_table(
        capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line(capsys, ["validate", "quickstart", "--set",
                             "incentive.kind=prediction_market"])
    assert "incentive.refund_wait_s: unknown field" in line
    assert line.endswith("(--set incentive.kind changes the kind only: the old kind's options "
                         "stay in the table; replace the table whole, e.g. --set "
                         "'incentive={kind=\"prediction_market\"}')")
    # the table replaced whole validates
    assert main(["validate", "quickstart", "--set", 'incentive={kind="prediction_market"}']) == 0


def test_several_errors_are_joined_on_one_line(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    f = tmp_path / "two_errors.toml"
    f.write_text('[chain]\nblock_time_s = "x"\n\n[[agents]]\nname = "a"\nkind = "honest"\n'
                 "balance = -1\n", encoding="utf-8")
    line = one_line(capsys, ["validate", str(f)])
    assert line.startswith(f"{f}: ")
    assert "chain.block_time_s" in line and "agents[0].balance" in line


def test_validate_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    line = one_line(capsys, ["validate", str(missing)])
    assert str(missing) in line and "not found" in line


def test_run_with_a_missing_dataset_file(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    f = tmp_path / "missing_data.toml"
    f.write_text('[data]\ndataset = "csv"\npath = "nope.csv"\n\n[[agents]]\nname = "a"\n'
                 'kind = "honest"\nbalance = 100\n', encoding="utf-8")
    out = tmp_path / "out"
    line = one_line(capsys, ["run", str(f), "--out", str(out), "-q"])
    assert "nope.csv" in line and "no such file" in line
    assert str(tmp_path / "nope.csv") in line   # resolved next to the scenario file
    assert not out.exists()


def test_run_with_a_missing_scenario_file(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    out = tmp_path / "out"
    line = one_line(capsys, ["run", str(missing), "--out", str(out), "-q"])
    assert str(missing) in line and "not found" in line
    assert not out.exists()


def test_run_with_a_bad_override(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    line = one_line(capsys, ["run", "--out", str(out), "-q", "--set", "agents[0].balance=-1"])
    assert "agents[0].balance" in line and "negative" in line
    line = one_line(capsys, ["run", "--out", str(out), "-q", "--set", "agents[9].balance=1"])
    assert "agents[9].balance" in line
    assert not out.exists()


def test_an_output_folder_that_cannot_be_made_is_refused_before_anything_runs(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An --out below a file (run, sweep, search) or a run's --out that is the working folder
    or holds it (its outputs replace the folder whole) is bad input, found before a run."""
    import sumsim.engine as engine

    def no_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("nothing may run")

    monkeypatch.setattr(engine, "run", no_run)
    file = tmp_path / "file.txt"
    file.write_text("x", encoding="utf-8")
    line = one_line(capsys, ["run", "--out", str(file / "sub"), "-q"])
    assert line == f"--out: {file / 'sub'}: {file} is a file, not a folder"
    sweep = tmp_path / "s.toml"
    sweep.write_text('[sweep]\nname = "s"\nbase = "quickstart"\n[grid]\n"agents[1].budget" = '
                     '[100]\n', encoding="utf-8")
    line = one_line(capsys, ["sweep", str(sweep), "--out", str(file / "a" / "b"), "-q"])
    assert line == f"--out: {file / 'a' / 'b'}: {file} is a file, not a folder"
    monkeypatch.chdir(tmp_path)
    for out in (".", "..", str(tmp_path)):
        line = one_line(capsys, ["run", "--out", out, "--force", "-q"])
        assert line.startswith(f"--out: {out} is the working folder or holds it"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "s.toml"]
    assert not any(".old-" in p.name or ".incomplete-" in p.name
                   for p in tmp_path.parent.iterdir())


def test_report_names_its_own_option_and_says_when_it_draws_nothing(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import polars as pl

    pl.DataFrame({"run_id": ["a", "b"], "status": ["ok", "ok"], "replicate": [0, 1],
                  "seed": [1, 2], "accuracy.final": [0.5, 0.6]}).write_parquet(
        tmp_path / "results.parquet")
    line = one_line(capsys, ["report", str(tmp_path), "--reference", ","])
    assert line == "--reference expects PATH=VALUE, got ''"
    line = one_line(capsys, ["report", str(tmp_path), "--reference", ""])
    assert line == "--reference expects PATH=VALUE, got ''"
    line = one_line(capsys, ["report", str(tmp_path), "--reference", "x"])
    assert line == "--reference expects PATH=VALUE, got 'x'"
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert out.out == "" and "nothing to draw" in out.err


def test_invariants_takes_the_mechanism_from_one_place(capsys: pytest.CaptureFixture[str]) -> None:
    """--set kind=points beside --mechanism deposit_refund_take silently tested points."""
    for item in ("kind=points", "incentive.kind=points"):
        line = one_line(capsys, ["invariants", "--mechanism", "deposit_refund_take", "--set",
                                 item, "--examples", "1"])
        assert line == "--set: the mechanism is chosen with --mechanism, not --set kind=..."


def test_a_value_set_inside_a_field_is_named_with_the_field_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The mean of a normal interval set with --set: the error is the option's, not the
    bundled file's, and says why the mean it checks differs from the one given."""
    line = one_line(capsys, ["validate", "quickstart", "--set", "agents[1].interval_s.mean=0.1"])
    assert line.startswith("--set agents[1].interval_s.mean: agents[1].interval_s: the mean "
                           "time between turns is 0.450935 s")
    assert line.endswith("(the waits of a normal with mean 0.1 s and sd 1 s, negative draws "
                         "taken as 0)")


def test_misspelt_fields_and_scenario_names_get_a_close_name(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = one_line(capsys, ["validate", "quickstart", "--set", "agents[1].intervl_s=5"])
    assert line == "--set agents[1].intervl_s: unknown field; did you mean 'interval_s'?"
    line = one_line(capsys, ["validate", "quikstart"])
    assert line == "quikstart: file not found; did you mean the bundled scenario 'quickstart'?"
    sweep = tmp_path / "s.toml"
    sweep.write_text('[sweep]\nbase = "quickstart"\nseeeds = 1\n[grid]\n'
                     '"agents[1].budget" = [1]\n')
    line = one_line(capsys, ["validate", str(sweep)])
    assert line == f"{sweep}: sweep.seeeds: unknown field; did you mean 'seeds'?"
    # nothing close: no guess
    line = one_line(capsys, ["validate", "quickstart", "--set", "agents[1].zzz=5"])
    assert line == "--set agents[1].zzz: unknown field"
    # nor any bundled name close: where the names are
    assert one_line(capsys, ["run", "nonexist"]) == (
        "nonexist: file not found (nor is it a bundled scenario's name: `sumsim run --list` "
        "lists them)")


def test_an_error_on_another_field_names_the_set_options_applied(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A check across fields that a --set broke names the field it checks, in the file, and
    the options that were set."""
    assert one_line(capsys, ["validate", "quickstart", "--set", "chain.block_gas_limit=21001"]) \
        == ("<bundled quickstart.toml>: chain.tx_gas_limit: must not exceed block_gas_limit "
            "(with --set chain.block_gas_limit applied)")


def test_report_and_invariants_say_what_they_were_given(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A folder that is not there, a search's folder given to `report`, and an option of
    `invariants --set` the mechanism lacks: each named as what it is."""
    gone = tmp_path / "nonexist"
    assert one_line(capsys, ["report", str(gone)]) == (
        f"{gone}: no such folder (a sweep's output folder is expected)")
    search = tmp_path / "search"
    search.mkdir()
    (search / "search.json").write_text("{}")
    assert one_line(capsys, ["report", str(search)]) == (
        f"{search}: this is a search's folder: its figure is pareto.png and its table "
        "trials.parquet (`sumsim report` draws a sweep's figures)")
    assert one_line(capsys, ["invariants", "--mechanism", "deposit_refund_take", "--set",
                             "foo=1"]) == (
        "--set: mechanism 'deposit_refund_take': foo: unknown field")


def test_version_and_one_agent(capsys: pytest.CaptureFixture[str]) -> None:
    import sumsim

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"sumsim {sumsim.__version__}\n"
    assert main(["validate", "quickstart", "--set", "agents=[{name=\"a\", kind=\"honest\", "
                 "balance=1}]"]) == 0
    assert capsys.readouterr().out == "quickstart: ok (quickstart, 1 agent)\n"


def test_validate_and_report_word_unusable_paths_and_mixed_files(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    long = "q" * 300
    assert one_line(capsys, ["validate", long]).endswith("File name too long")
    assert one_line(capsys, ["report", long]).endswith("cannot read: File name too long")
    both = tmp_path / "both.toml"
    both.write_text('[sweep]\nbase = "quickstart"\n[grid]\n"data.max_pool" = [40]\n'
                    '[scenario]\nname = "y"\n')
    assert one_line(capsys, ["validate", str(both)]) == (
        f"{both}: the file holds both a [sweep] table and a scenario's tables; a sweep names "
        "its scenario in sweep.base (a file or a bundled name): keep them in two files")


@pytest.mark.parametrize(("item", "expected"), [
    ("model={kind=naive_bayes}", "--set model: '{kind=naive_bayes}' is not an inline table"),
    ('model={kind="naive_bayes", alpha=0.5,}', "is not an inline table TOML can read"),
    ("agents[1].name=[1, 2", "--set agents[1].name: '[1, 2' is not an array TOML can read"),
    ("chain.block_time_s=5\nfoo = 1", "the value holds more than one TOML value"),
])
def test_a_set_value_meant_as_toml_says_what_is_wrong_with_it(
        item: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A table or array that does not parse was kept as a string ("should be a valid
    dictionary"), hiding the syntax error; text after a line break was dropped silently."""
    assert main(["validate", "quickstart", "--set", item]) == 2
    assert expected in capsys.readouterr().err


def test_an_empty_path_is_refused_not_taken_for_the_current_folder(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import sumsim

    with pytest.raises(SystemExit) as e:
        main(["run", "--out", ""])
    assert e.value.code == 2 and capsys.readouterr().err == (
        "sumsim run: argument --out: expected a folder path, got an empty one (see sumsim run "
        "--help)\n")
    assert one_line(capsys, ["validate", ""]) == (
        "an empty path; expected a TOML file (or a bundled scenario's name)")
    with pytest.raises(InputError, match="source: expected a path, not an empty one, got ''"):
        sumsim.load("")
    assert not (tmp_path / "sumsim-out").exists()


@pytest.mark.parametrize("command", ["run", "validate", "gas"])
def test_a_data_file_error_reads_alike_in_run_validate_and_gas(
        command: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "nan.csv"
    data.write_text("f1,f2,label\n1,2,0\n3,nan,1\n4,5,0\n6,7,1\n")
    line = one_line(capsys, [command, "quickstart", "--set", "data.dataset=csv", "--set",
                             f"data.path={data}", "--set", 'data.feature_columns=["f1","f2"]']
                    + (["--out", str(tmp_path / "out")] if command == "run" else []))
    assert line == (f"quickstart: data.path: {data}: f2: feature column 'f2' was read as text "
                    "(row 1 holds 'nan', not a finite number); give it as text_column or leave "
                    "it out of feature_columns")


def test_a_run_is_not_written_inside_another_runs_outputs(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    outer = tmp_path / "o2"
    assert main(["run", "--out", str(outer), "-q", "--set", "data.max_pool=50"]) == 0
    inner = outer / "inner"
    assert one_line(capsys, ["run", "--out", str(inner), "-q", "--set",
                             "data.max_pool=50"]) == (
        f"--out: {inner} is inside another run's outputs ({outer}); choose a folder of its own")
    assert not inner.exists()
