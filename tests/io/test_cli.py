"""The ``bidstack ingest`` and ``bidstack store info`` commands."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bidstack.cli import main
from bidstack.io import describe, ingest

from iohelpers import NOT_MMS, Ingested, mms_text

PRICE = ("SETTLEMENTDATE", "RUNNO", "REGIONID", "DISPATCHINTERVAL", "INTERVENTION", "RRP")
GOOD = ["2024/09/01 00:05:00", "1", "NSW1", "20240901001", "0", "57.5"]


def prices(path: Path, closing: int | None = None, *rows: list[str]) -> Path:
    path.write_text(mms_text(("DISPATCH", "PRICE", 5, PRICE, rows or [GOOD]), closing=closing))
    return path


def test_whole_sample_folder_reports_files_that_are_not_mms(
    samples: Ingested, mms_dir: Path, manifest_rows, capsys
):
    assert main(["ingest", str(mms_dir), "--store", str(samples.store)]) == 0
    out = capsys.readouterr().out
    for name in (
        "nemosis/aemo_static/NEM-Registration-and-Exemption-List.xlsx",
        "fullmarket/nem-bidding-dashboard/NEM Registration and Exemption List.xls",
    ):
        assert f"not-mms   {mms_dir / name}: not an MMS file: zip holds no MMS or NEM12 CSV" in out
    database = mms_dir / "nempy/market_management_system.db"
    assert f"unchanged {database}: already ingested" in out
    files = len(manifest_rows) + 1  # and MANIFEST.tsv itself
    read = files - len(NOT_MMS)
    assert (
        out.strip().splitlines()[-1] == f"{files} files: {len(NOT_MMS)} not-mms, {read} unchanged"
    )


def test_cli_reports_rejections_in_one_line_each_and_exits_1(tmp_path: Path, capsys):
    good = prices(tmp_path / "good.csv")
    bad = prices(tmp_path / "bad.csv", 99)
    status = main(["ingest", str(good), str(bad), "--store", str(tmp_path / "s"), "--strict"])
    out, err = capsys.readouterr()
    assert status == 1
    assert f"rejected  {bad}: {bad}:4: closing count 99" in out
    assert f"ingested  {good}: 1 rows (dispatchprice 1)" in out
    assert out.splitlines()[-1] == (
        "2 files: 1 ingested, 1 rejected; 1 rows stored, 0 rows skipped, 0 rows rejected"
    )
    assert len(out.splitlines()) == 3 and err == ""  # a line per file and the totals, no more


def test_nothing_to_ingest_exits_1_naming_what_was_given(tmp_path: Path, capsys):
    folder = tmp_path / "dataset"
    folder.mkdir()
    (folder / "book.csv").write_text("name,value\nx,1\n")
    (folder / "notes.txt").write_text("hello\n")
    status = main(["ingest", str(folder), "--store", str(tmp_path / "s")])
    out, err = capsys.readouterr()
    assert status == 1
    assert out.splitlines()[-1] == "2 files: 2 not-mms"
    assert err == (
        f"bidstack: nothing ingested: no file in {folder} is an MMS or NEM12 file, a NEMOSIS "
        "cache or a database of MMS tables\n"
    )


def test_a_failed_download_is_rejected_and_exits_1(tmp_path: Path, capsys):
    good = prices(tmp_path / "good.csv")
    empty = tmp_path / "PUBLIC_DVD_DISPATCHPRICE_202409010000.zip"
    empty.write_bytes(b"")
    assert main(["ingest", str(good), str(empty), "--store", str(tmp_path / "s")]) == 1
    out = capsys.readouterr().out
    assert f"rejected  {empty}: {empty}: empty, though named .zip (a failed download?)" in out
    assert out.splitlines()[-1].startswith("2 files: 1 ingested, 1 rejected;")


def test_cli_prints_issues_under_their_file(tmp_path: Path, capsys):
    path = prices(tmp_path / "p.csv", None, GOOD, [*GOOD[:5], "x"])
    assert main(["ingest", str(path), "--store", str(tmp_path / "s")]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"ingested  {path}: 1 rows (dispatchprice 1); 1 rows rejected"
    assert lines[1] == f"  rejected {path}:4: bad float in RRP: 'x' (1 row rejected)"


def test_cli_names_a_missing_path_without_traceback(tmp_path: Path, capsys):
    status = main(["ingest", str(tmp_path / "nope"), "--store", str(tmp_path / "s")])
    _, err = capsys.readouterr()
    assert status == 2
    assert err == f"bidstack: error: {tmp_path / 'nope'}: no such file or folder\n"


def test_describe_and_store_info(tmp_path: Path, capsys):
    store = tmp_path / "store"
    ingest([prices(tmp_path / "a.csv", None, GOOD, ["2024/09/01 00:10:00", *GOOD[1:]])], store)
    summary = describe(store).row(0, named=True)
    assert summary["table"] == "dispatchprice" and summary["rows"] == 2
    assert (summary["first"], summary["last"]) == (
        datetime(2024, 9, 1, 0, 5),
        datetime(2024, 9, 1, 0, 10),
    )
    assert main(["store", "info", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "dispatchprice" in out and "2024-09-01 00:05:00  2024-09-01 00:10:00" in out
    assert "1 tables, 2 rows from 1 sources" in out


def test_store_info_on_a_folder_that_is_not_a_store(tmp_path: Path, capsys):
    assert main(["store", "info", "--store", str(tmp_path)]) == 2
    assert "not a bidstack store" in capsys.readouterr().err
