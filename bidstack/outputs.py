"""Output folders: bidstack writes only into a folder that is new, empty or its own, and there
replaces only what it wrote.

A command that writes a folder (``bidstack backtest -o``, ``bidstack demo -o``) first lists, in
the folder's :data:`LISTING` file, the names it is about to write there (its *claims*: the
scenario folders, ``summary.csv``, ``report.html``, ...), and when it finishes, every file it
wrote under them with its size and SHA-256. Run again into the same folder, it:

- refuses a path that is a file, a folder holding anything but no listing (a project folder, a
  store, an earlier bidstack's output), and a folder another command wrote (a demo's folder
  given to ``backtest -o``);
- refuses if a file it listed was changed since (a summary edited in a spreadsheet), or if a
  file it did not write lies in one of its claims, the old run's or this one's (notes put in a
  scenario folder): replacing the claim would lose it;
- otherwise removes exactly the files it listed (after an interrupted run, which listed no
  files, every file under its claims) and keeps everything else: a user's ``my_analysis.xlsx``
  beside the results stays.

Every refusal is one :class:`~bidstack.errors.OutputError` naming the folder and the file at
fault, raised before anything is removed or written.

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> folder = prepare_output(root / "out", "backtest", ["summary.csv"])
>>> _ = (folder.root / "summary.csv").write_text("scenario\\n")
>>> folder.finish()
>>> _ = (root / "out" / "notes.txt").write_text("mine")
>>> folder = prepare_output(root / "out", "backtest", ["summary.csv"])
>>> sorted(path.name for path in (root / "out").iterdir())
['bidstack-output.json', 'notes.txt']
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bidstack.errors import OutputError

#: The file in an output folder that lists what bidstack wrote there.
LISTING = "bidstack-output.json"
LISTING_FORMAT = "bidstack-output/1"
#: How many names a refusal quotes.
SHOWN = 3


@dataclass
class OutputFolder:
    """An output folder prepared by :func:`prepare_output`: ``root``, the command (``kind``) and
    the names directly under ``root`` it writes (``claims``)."""

    root: Path
    kind: str
    claims: tuple[str, ...]
    files: dict[str, dict] = field(default_factory=dict)

    def finish(self) -> None:
        """List every file now under the claims, with its size and SHA-256; the run is done."""
        self.files = {
            _relative(self.root, path): _fingerprint(path)
            for name in self.claims
            for path in _files_under(self.root / name)
        }
        self._save(complete=True)

    def record(self, *paths: Path) -> None:
        """Add files written after :meth:`finish` (under the claims) to the listing."""
        for path in paths:
            relative = _relative(self.root, path)
            if relative.split("/")[0] not in self.claims:
                raise OutputError(f"{path}: not among the names {self.root} was prepared for")
            self.files[relative] = _fingerprint(path)
        self._save(complete=True)

    def _save(self, *, complete: bool) -> None:
        listing = {
            "format": LISTING_FORMAT,
            "kind": self.kind,
            "complete": complete,
            "claims": list(self.claims),
            "files": self.files,
        }
        path = self.root / LISTING
        temporary = path.with_name(path.name + ".tmp")
        try:
            temporary.write_text(json.dumps(listing, indent=1, sort_keys=True))
            os.replace(temporary, path)
        except OSError as exc:
            raise OutputError(f"{self.root}: cannot write there ({exc.strerror})") from exc


def prepare_output(out: str | os.PathLike, kind: str, claims: Iterable[str]) -> OutputFolder:
    """Make ``out`` ready for ``bidstack <kind>`` to write ``claims`` into (see the module's
    rules), and list the claims there; raise :class:`OutputError` if it may not be used."""
    root = Path(out)
    claims = tuple(dict.fromkeys(claims))
    for name in claims:
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise OutputError(f"{name!r} cannot name a file or folder in {root}")
    if root.exists() and not root.is_dir():
        raise OutputError(f"{root}: the output path is a file, not a folder")
    if root.is_dir():
        _clear(root, kind, claims)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{root}: cannot make the output folder ({exc.strerror})") from exc
    folder = OutputFolder(root, kind, claims)
    folder._save(complete=False)
    return folder


def record(out: str | os.PathLike, *paths: Path) -> None:
    """Add ``paths``, written into the finished output folder ``out``, to its listing."""
    root = Path(out)
    listing = _listing(root)
    if listing is None:
        raise OutputError(f"{root}: holds no {LISTING}; it was not prepared by bidstack")
    folder = OutputFolder(root, listing["kind"], tuple(listing["claims"]), listing["files"])
    folder.record(*paths)


def prepare_output_file(path: str | os.PathLike, *inputs: str | os.PathLike) -> Path:
    """``path`` as a file to write, its folder made if need be; raise :class:`OutputError` if
    it is a folder, lies under a file, or is one of ``inputs`` (which writing would replace)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: a folder, not a file to write")
    if any(path.exists() and path.resolve() == Path(given).resolve() for given in inputs):
        raise OutputError(f"{path}: the output would replace the input; give another path")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise OutputError(f"{path}: cannot write under {blocking}, which is a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path}: cannot make its folder ({exc.strerror})") from exc
    return path


def _clear(root: Path, kind: str, claims: tuple[str, ...]) -> None:
    """Remove what an earlier run of bidstack wrote in ``root``, or refuse (see the module)."""
    present = sorted(entry.name for entry in root.iterdir())
    if not present:
        return
    listing = _listing(root)
    if listing is None:
        raise OutputError(
            f"{root}: the folder holds files bidstack did not write ({_names(present)}); "
            "give a new or empty folder"
        )
    if listing["kind"] != kind:
        raise OutputError(
            f"{root}: the folder holds the output of bidstack {listing['kind']}, not of "
            f"bidstack {kind}; give a new or empty folder"
        )
    old_claims = set(listing["claims"])
    listed = listing["files"]
    for relative, expected in sorted(listed.items()):
        path = root / relative
        if not _unchanged(path, expected):
            raise OutputError(
                f"{path}: changed since bidstack wrote it; move it away or give another folder"
            )
    ours, foreign = [], []
    for path in _files_under(root, symlinks=True):
        relative = _relative(root, path)
        top = relative.split("/")[0]
        mine = relative in listed or (not listing["complete"] and top in old_claims)
        if relative == LISTING or (mine and not path.is_symlink()):
            ours.append(path)
        elif top in old_claims or top in claims:
            foreign.append(relative)
    if foreign:
        raise OutputError(
            f"{root / foreign[0]}: not written by bidstack, in a place this run writes to "
            f"({_names(foreign)}); move it away or give another folder"
        )
    for path in ours:
        path.unlink()
    for name in old_claims | set(claims):
        _remove_empty_folders(root / name)


def _listing(root: Path) -> dict | None:
    """The listing in ``root``, or None if there is none bidstack can read."""
    try:
        listing = json.loads((root / LISTING).read_text())
    except (OSError, ValueError):
        return None
    shaped = (
        isinstance(listing, dict)
        and listing.get("format") == LISTING_FORMAT
        and isinstance(listing.get("kind"), str)
        and isinstance(listing.get("claims"), list)
        and isinstance(listing.get("files"), dict)
        and isinstance(listing.get("complete"), bool)
    )
    return listing if shaped else None


def _files_under(path: Path, *, symlinks: bool = False) -> Iterator[Path]:
    """Every file (and, with ``symlinks``, every link) at or under ``path``, links not followed."""
    if path.is_symlink():
        if symlinks:
            yield path
        return
    if path.is_file():
        yield path
        return
    for folder, names, files in os.walk(path):
        base = Path(folder)
        for name in files:
            if symlinks or not (base / name).is_symlink():
                yield base / name
        if symlinks:
            yield from (base / name for name in names if (base / name).is_symlink())


def _remove_empty_folders(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        return
    for folder, _, _ in sorted(os.walk(path), key=lambda entry: -len(entry[0])):
        if not any(Path(folder).iterdir()):
            Path(folder).rmdir()


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _fingerprint(path: Path) -> dict:
    with path.open("rb") as raw:
        digest = hashlib.file_digest(raw, "sha256").hexdigest()
    return {"bytes": path.stat().st_size, "sha256": digest}


def _unchanged(path: Path, expected: dict) -> bool:
    """True if ``path`` is gone, or is still the file bidstack wrote (same size and SHA-256)."""
    if not (path.exists() or path.is_symlink()):
        return True
    if path.is_symlink() or not path.is_file() or path.stat().st_size != expected.get("bytes"):
        return False
    return _fingerprint(path) == expected


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
