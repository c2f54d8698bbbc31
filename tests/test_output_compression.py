"""The codec of a backtest's Parquet files: the same tables whatever the codec, a codec Parquet
does not have refused before anything is written."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from bidstack.backtest import backtest
from bidstack.cli import main
from bidstack.demo import synthetic_market
from bidstack.errors import ConfigError
from bidstack.fleet import load_fleet


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory):
    return synthetic_market(tmp_path_factory.mktemp("market") / "store", n_units=12, days=1, seed=5)


def run(market, out: Path, **options) -> Path:
    backtest(market.store, load_fleet(market.fleet_file), ["v1"], market.start,
             market.start + timedelta(hours=6), out, progress=False, **options)  # fmt: skip
    return out


def codecs(path: Path) -> set[str]:
    metadata = pq.ParquetFile(path).metadata
    return {
        metadata.row_group(g).column(c).compression
        for g in range(metadata.num_row_groups)
        for c in range(metadata.num_columns)
    }


def test_lz4_partitions_hold_the_tables_of_the_default_run(market, tmp_path: Path) -> None:
    default = run(market, tmp_path / "zstd")
    fast = run(market, tmp_path / "lz4", compression="lz4")
    parts = sorted(p.relative_to(default) for p in default.rglob("*.parquet"))
    assert parts == sorted(p.relative_to(fast) for p in fast.rglob("*.parquet"))
    assert {"baseline", "v1", "allocation", "problems"} <= {p.parts[0] for p in parts}
    # every Parquet file of the run: the month partitions and those written at the end
    at_the_end = {"v1/statements/totals.parquet", "fleet_daily.parquet", "bid_stack.parquet"}
    assert {Path(name) for name in at_the_end} <= set(parts)
    for part in parts:
        assert codecs(default / part) == {"ZSTD"}
        assert codecs(fast / part) in ({"LZ4"}, {"LZ4_RAW"}), part
        assert pl.read_parquet(fast / part).equals(pl.read_parquet(default / part)), part
    assert (fast / "summary.csv").read_bytes() == (default / "summary.csv").read_bytes()


def test_a_codec_parquet_does_not_have_is_refused_before_any_output(market, tmp_path) -> None:
    with pytest.raises(ConfigError, match="'lzma' is not one of zstd, lz4, snappy"):
        run(market, tmp_path / "out", compression="lzma")
    assert not (tmp_path / "out").exists()


def test_command_line_compression(market, tmp_path: Path, capsys) -> None:
    args = ["backtest", "--store", str(market.store), "--fleet", str(market.fleet_file),
            "--rules", "v1", "--start", str(market.start),
            "--end", str(market.start + timedelta(hours=1)), "-o"]  # fmt: skip
    assert main([*args, str(tmp_path / "bad"), "--compression", "lzma"]) == 2
    assert "compression 'lzma' is not one of" in capsys.readouterr().err
    assert main([*args, str(tmp_path / "out"), "--compression", "lz4"]) == 0
    amounts = next((tmp_path / "out" / "v1" / "amounts").rglob("*.parquet"))
    assert codecs(amounts) in ({"LZ4"}, {"LZ4_RAW"})
