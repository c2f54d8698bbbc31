"""Output folders: bidstack replaces only what it wrote, and refuses, in one line, anything else.

Each case checks the exit status, that the message names the folder or file at fault, that no
traceback is printed, and that nothing outside the intended output changed.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import polars as pl
import pytest

from badinput import Ran, expect, run, store_rows

LISTING = "bidstack-output.json"  # what bidstack wrote in a folder (bidstack.outputs)
V2 = (Path(__file__).parents[2] / "bidstack" / "rules" / "v2.toml").read_text()

REFUSED = 2


def backtest_into(finished, out: Path, *rules: str) -> Ran:
    """The finished run's backtest again (with other ``rules`` if given), into ``out``."""
    args = list(finished.args)
    if rules:
        while "--rules" in args:
            index = args.index("--rules")
            del args[index : index + 2]
        args += [arg for rule in rules for arg in ("--rules", rule)]
    return run(*args, "-o", out)


def project_folder(root: Path) -> Path:
    """A user's project: source code, and a ``backtest.json`` that bidstack did not write."""
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_text("print('my project')\n")
    (root / "backtest.json").write_text("{}")
    return root


def folder_with(name: str, text: str):
    """A maker of a folder holding one file ``name`` with ``text``."""

    def make(root: Path) -> None:
        root.mkdir()
        (root / name).write_text(text)

    return make


NOT_WRITTEN = "holds files bidstack did not write"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (project_folder, [NOT_WRITTEN, "backtest.json", "src"]),
        (folder_with("backtest.json", '{"finished": true}'), [NOT_WRITTEN, "backtest.json"]),
        (folder_with(LISTING, "not json"), [NOT_WRITTEN, LISTING]),
        (folder_with(LISTING, '{"format": "other"}'), [NOT_WRITTEN, LISTING]),
        (lambda root: root.write_text("a file"), ["the output path is a file"]),
    ],
    ids=["project-with-backtest-json", "older-output", "bad-listing", "foreign-listing", "file"],
)
def test_a_backtest_refuses_a_folder_it_did_not_write(finished, tmp_path, untouched, make, words):
    out = tmp_path / "out"
    make(out)
    guard = untouched()
    ran = backtest_into(finished, out)
    expect(ran, REFUSED, str(out), *words)
    guard.check()


def test_a_backtest_under_a_file_is_refused(finished, tmp_path, untouched):
    (tmp_path / "plain.txt").write_text("a file")
    guard = untouched()
    expect(backtest_into(finished, tmp_path / "plain.txt" / "out"), REFUSED, "plain.txt")
    guard.check()


def test_a_rerun_replaces_its_files_and_keeps_the_users(finished, tmp_path, sentinel):
    out = finished.copy(tmp_path / "results")
    (out / "my_analysis.xlsx").write_bytes(b"PK\x03\x04 a workbook")
    (out / "notes").mkdir()
    (out / "notes" / "ideas.md").write_text("ideas")
    ran = backtest_into(finished, out)
    expect(ran, 0)
    assert (out / "my_analysis.xlsx").read_bytes() == b"PK\x03\x04 a workbook"
    assert (out / "notes" / "ideas.md").read_text() == "ideas"
    assert sentinel.read_text().startswith("the user's own notes")
    assert (out / "summary.csv").exists() and (out / "report.html").exists()


def test_a_rerun_with_fewer_variants_removes_the_others(finished, tmp_path, untouched):
    out = finished.copy(tmp_path / "results")
    (out / "keep.txt").write_text("mine")
    guard = untouched(*(path for path in out.iterdir() if path.name != "keep.txt"))
    expect(backtest_into(finished, out, "v2"), 0)
    assert not (out / "v1").exists() and (out / "v2").is_dir()
    assert pl.read_csv(out / "summary.csv").get_column("scenario").to_list() == ["baseline", "v2"]
    guard.check()


def edit_summary(out: Path) -> None:
    (out / "summary.csv").write_text("edited in a spreadsheet")


def notes_in_a_scenario(out: Path) -> None:
    (out / "baseline" / "notes.txt").write_text("mine")


def report_made_a_folder(out: Path) -> None:
    (out / "report.html").unlink()
    (out / "report.html").mkdir()


def link_in_a_scenario(out: Path) -> None:
    os.symlink("/etc", out / "v1" / "elsewhere")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (edit_summary, ["summary.csv", "changed since"]),
        (notes_in_a_scenario, ["baseline/notes.txt", "not written by"]),
        (report_made_a_folder, ["report.html", "changed since"]),
        (link_in_a_scenario, ["v1/elsewhere", "not written by"]),
    ],
    ids=["edited-summary", "notes-in-scenario", "file-made-folder", "link-in-scenario"],
)
def test_a_rerun_refuses_before_removing_anything(finished, tmp_path, untouched, change, words):
    out = finished.copy(tmp_path / "results")
    change(out)
    guard = untouched()
    expect(backtest_into(finished, out), REFUSED, *words)
    guard.check()


def test_a_user_folder_named_as_a_new_variant_is_refused(finished, tmp_path, untouched):
    out = finished.copy(tmp_path / "results")
    rule = tmp_path / "mine.toml"
    rule.write_text(V2.replace('name = "v2"', 'name = "mine"'))
    (out / "mine").mkdir()
    (out / "mine" / "data.csv").write_text("the user's")
    guard = untouched()
    expect(backtest_into(finished, out, str(rule)), REFUSED, "mine/data.csv", "not written by")
    guard.check()


def test_an_interrupted_run_is_replaced(finished, tmp_path, untouched):
    out = finished.copy(tmp_path / "results")
    listing = json.loads((out / LISTING).read_text())
    (out / LISTING).write_text(json.dumps(listing | {"complete": False, "files": {}}))
    (out / "my.txt").write_text("mine")
    guard = untouched(*(p for p in out.iterdir() if p.name != "my.txt"))
    expect(backtest_into(finished, out), 0)
    assert json.loads((out / LISTING).read_text())["complete"] is True
    guard.check()


def test_a_demo_folder_is_not_a_backtest_output(finished, tmp_path, untouched):
    out = tmp_path / "demo"
    out.mkdir()
    (out / LISTING).write_text(json.dumps(
        {"format": "bidstack-output/1", "kind": "demo", "complete": True, "claims": ["store"],
         "files": {}}))  # fmt: skip
    guard = untouched()
    expect(backtest_into(finished, out), REFUSED, "output of bidstack demo")
    guard.check()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_one_line(finished, tmp_path, untouched):
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(stat.S_IRUSR | stat.S_IXUSR)
    guard = untouched()
    try:
        expect(backtest_into(finished, out), REFUSED, str(out), "cannot write")
    finally:
        out.chmod(stat.S_IRWXU)
    guard.check()


def test_a_read_only_output_folder_is_one_line_even_for_root(finished, tmp_path, untouched,
                                                            monkeypatch):  # fmt: skip
    out = tmp_path / "locked"

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "write_text", refuse)
    guard = untouched()
    expect(backtest_into(finished, out), REFUSED, str(out), "cannot write", "Permission denied")
    monkeypatch.undo()
    guard.check()


def demo_args(out: Path) -> list[object]:
    return ["demo", "-o", out, "--units", "4", "--days", "1", "--seed", "1"]


def test_the_demo_refuses_a_folder_with_a_real_store(finished, market, tmp_path, untouched):
    out = tmp_path / "project"
    shutil.copytree(market.store, out / "store")
    (out / "fleet.toml").write_text(market.fleet_file.read_text())
    rows = store_rows(out / "store")
    assert rows
    guard = untouched()
    expect(run(*demo_args(out)), REFUSED, str(out), "holds files bidstack did not write")
    guard.check()
    assert store_rows(out / "store") == rows


def test_the_demo_refuses_a_backtest_output(finished, tmp_path, untouched):
    out = finished.copy(tmp_path / "results")
    guard = untouched()
    expect(run(*demo_args(out)), REFUSED, "output of bidstack backtest")
    guard.check()


def test_the_demo_writes_a_new_folder_and_replaces_only_its_own(tmp_path, sentinel):
    out = tmp_path / "demo"
    expect(run(*demo_args(out)), 0, "report:")
    assert json.loads((out / LISTING).read_text())["kind"] == "demo"
    (out / "mine.txt").write_text("mine")
    rows = store_rows(out / "store")
    expect(run(*demo_args(out)), 0, "report:")
    assert (out / "mine.txt").read_text() == "mine" and store_rows(out / "store") == rows
    assert sentinel.read_text().startswith("the user's own notes")
    (out / "store" / "extra").mkdir()
    (out / "store" / "extra" / "real.parquet").write_bytes(b"PAR1")
    expect(run(*demo_args(out)), REFUSED, "store/extra/real.parquet", "not written by")


@pytest.mark.parametrize("name", ["..", ".", "report.html", "a/b", "", "my rules", "v2\n", "é"])
def test_a_rule_name_that_is_not_an_identifier_is_refused_on_load(
    finished, tmp_path, untouched, name
):
    rule = tmp_path / "rule.toml"
    rule.write_text(V2.replace('name = "v2"', f"name = {json.dumps(name)}"))
    out = tmp_path / "out"
    guard = untouched()
    expect(backtest_into(finished, out, str(rule)), REFUSED, str(rule), "`name` must be letters")
    assert not out.exists()
    guard.check()


@pytest.mark.parametrize("name", ["baseline", "allocation", "problems"])
def test_a_rule_named_as_an_output_is_refused(finished, tmp_path, untouched, name):
    rule = tmp_path / "rule.toml"
    rule.write_text(V2.replace('name = "v2"', f'name = "{name}"'))
    guard = untouched()
    expect(backtest_into(finished, tmp_path / "out", str(rule)), REFUSED, repr(name))
    guard.check()


def test_a_rule_file_name_that_is_not_an_identifier_needs_a_name(tmp_path, untouched):
    rule = tmp_path / "v2.1.toml"
    rule.write_text("\n".join(line for line in V2.splitlines() if not line.startswith("name")))
    guard = untouched()
    expect(run("rules", "show", rule), REFUSED, "'v2.1'", "set `name` in the file")
    guard.check()


def test_a_participant_id_never_names_a_file_outside_the_output(finished, market, tmp_path,
                                                                 untouched):  # fmt: skip
    fleet = tmp_path / "fleet.toml"
    text = market.fleet_file.read_text()
    first = text.index("[units.")
    unit_end = text.index("\n\n", first)
    fleet.write_text(text[:unit_end] + '\nparticipant = "../../../escaped"' + text[unit_end:])
    out = tmp_path / "out"
    args = list(finished.args)
    args[args.index("--fleet") + 1] = str(fleet)
    guard = untouched(out)
    expect(run(*args, "-o", out), 0)
    guard.check()
    assert list(out.glob("*/statements/statement_*escaped-*.txt"))  # its name and a digest


@pytest.mark.parametrize(
    ("output", "words"),
    [
        (lambda tmp: tmp / "plain.txt" / "out.parquet", ["plain.txt", "which is a file"]),
        (lambda tmp: tmp / "in.parquet", ["would replace the input"]),
        (lambda tmp: tmp / "user", ["a folder, not a file"]),
    ],
    ids=["under-a-file", "the-input", "a-folder"],
)
def test_allocate_refuses_an_output_it_cannot_or_may_not_write(tmp_path, untouched, output, words):
    from allocation_cases import random_rows

    random_rows(10, seed=1).write_parquet(tmp_path / "in.parquet")
    (tmp_path / "plain.txt").write_text("a file")
    guard = untouched()
    expect(run("allocate", tmp_path / "in.parquet", "-o", output(tmp_path)), REFUSED, *words)
    guard.check()


@pytest.mark.parametrize(
    ("output", "words"),
    [
        (lambda run, tmp: tmp / "plain.txt" / "table.csv", ["plain.txt", "which is a file"]),
        (lambda run, tmp: run / "summary.csv", ["would replace the input"]),
        (lambda run, tmp: tmp / "user", ["a folder, not a file"]),
    ],
    ids=["under-a-file", "a-run-summary", "a-folder"],
)
def test_compare_refuses_an_output_it_cannot_or_may_not_write(
    finished, tmp_path, untouched, output, words
):
    results = finished.copy(tmp_path / "results")
    (tmp_path / "plain.txt").write_text("a file")
    guard = untouched()
    expect(run("compare", results, "-o", output(results, tmp_path)), REFUSED, *words)
    guard.check()
