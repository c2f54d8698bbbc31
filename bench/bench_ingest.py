"""Ingest throughput and peak memory of ``bidstack ingest`` on a large BIDPEROFFER_D file.

Builds a BIDPEROFFER_D file of at least ``--size-gb`` GB by repeating the real rows of a shared
sample (each repetition renames the two units, so the file holds ~1,000 DUIDs as the NEM does),
then measures, in the same run and each in a fresh process:

- baseline: ``polars.read_csv`` of the same ``D`` rows alone (no ``C``/``I`` rows), all in memory;
- ingest: ``bidstack ingest`` of the MMS file into an empty store (parse, type, partition by
  month, write Parquet, manifest).

Prints bytes/s of each, their ratio (target: ingest >= 70% of the baseline) and each process's
peak resident memory (target: ingest < 2 GB whatever the file size). Timings cover the work only,
not interpreter start-up or imports. Run from the repository root::

    python bench/bench_ingest.py                # 1 GB, best of 1
    python bench/bench_ingest.py --size-gb 2 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = "data/mms/nemosis/MMSDM_2024_09/PUBLIC_ARCHIVE%23BIDPEROFFER_D%23FILE01%23202409010000.zip"
TARGET_RATIO = 0.70
TARGET_PEAK_BYTES = 2 << 30


def shared_dir() -> Path:
    return Path(os.environ.get("BIDSTACK_SHARED", REPO.parent / "shared"))


def build(folder: Path, size: int) -> tuple[Path, Path]:
    """Write the MMS file and the file of its ``D`` rows alone; return their paths."""
    with zipfile.ZipFile(shared_dir() / SAMPLE) as archive:
        text = archive.read(archive.namelist()[0])
    lines = text.splitlines(keepends=True)
    header, columns = lines[0], lines[1]
    rows = b"".join(line for line in lines if line.startswith(b"D,"))
    mms, alone = folder / "PUBLIC_DVD_BIDPEROFFER_D_BENCH.CSV", folder / "d_rows.csv"
    count, written = 2, 0
    with mms.open("wb") as out, alone.open("wb") as d_rows:
        out.write(header + columns)
        repetition = 0
        while written < size:
            block = rows.replace(b",AGLHAL,", b",AG%04d," % repetition).replace(
                b",HDWF2,", b",H%04d," % repetition
            )
            out.write(block)
            d_rows.write(block)
            written += len(block)
            count += block.count(b"\n")
            repetition += 1
        out.write(b'C,"END OF REPORT",%d\n' % (count + 1))
    return mms, alone


def child(task: str, source: str, store: str) -> None:
    """Run one measured task in this process and print its timing and peak memory as JSON."""
    import polars as pl

    from bidstack.io import ingest

    started = time.perf_counter()
    if task == "baseline":
        rows = pl.read_csv(source, has_header=False).height
    else:
        [outcome] = ingest([source], store, progress=False)
        rows = sum(outcome.report.rows.values())
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_bytes": peak, "rows": rows}))


def measure(task: str, source: Path, store: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", task, str(source), str(store)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.0, help="file size (default 1)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; best kept")
    parser.add_argument("--workdir", type=Path, help="folder for the files (default: a temp dir)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        mms, alone = build(Path(folder), int(args.size_gb * 1e9))
        sizes = {"ingest": mms.stat().st_size, "baseline": alone.stat().st_size}
        print(
            f"BIDPEROFFER_D file: {sizes['ingest'] / 1e9:.2f} GB; "
            f"its D rows alone: {sizes['baseline'] / 1e9:.2f} GB"
        )
        runs: dict[str, list[dict]] = {"baseline": [], "ingest": []}
        for attempt in range(args.repeat):
            runs["baseline"].append(measure("baseline", alone, Path(folder) / "unused"))
            store = Path(folder) / f"store{attempt}"
            runs["ingest"].append(measure("ingest", mms, store))
        best = {task: min(results, key=lambda r: r["seconds"]) for task, results in runs.items()}
        speed = {task: sizes[task] / best[task]["seconds"] for task in best}
        for task, label in (("baseline", "polars.read_csv(D rows)"), ("ingest", "bidstack ingest")):
            run = best[task]
            print(
                f"{label:24} {run['rows']:>11,} rows {run['seconds']:7.2f} s "
                f"{speed[task] / 1e6:7.1f} MB/s  peak RSS {run['peak_bytes'] / 2**30:5.2f} GiB"
            )
        if best["ingest"]["rows"] != best["baseline"]["rows"]:
            sys.exit(
                f"ingest stored {best['ingest']['rows']:,} rows of the "
                f"{best['baseline']['rows']:,} D rows: the speed is not comparable"
            )
        ratio = speed["ingest"] / speed["baseline"]
        peak = best["ingest"]["peak_bytes"]
        print(
            f"ingest = {ratio:.0%} of polars.read_csv throughput "
            f"(target >= {TARGET_RATIO:.0%}: {'met' if ratio >= TARGET_RATIO else 'NOT met'}); "
            f"ingest peak RSS {peak / 2**30:.2f} GiB "
            f"(target < 2 GiB: {'met' if peak < TARGET_PEAK_BYTES else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
