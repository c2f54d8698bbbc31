"""Rule variants as data: load, check and compile the TOML rule tables of SPEC §2.

A variant is a TOML file (see ``v1.toml`` for the grammar). The built-in variants ``v1`` and ``v2``
ship inside this package; anywhere a built-in name is accepted, a path to a user's own file is
accepted too. A malformed file fails on load with a :class:`~bidstack.errors.RuleError` naming the
file, the table and the cell.

>>> v2 = load_variant("v2")
>>> v2.cell("sdc_false", price_phase=-10, price_type=-10).text
'max(<TPmax, >SRMC+)'
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

from bidstack.errors import RuleError
from bidstack.kernel import codes

BUILTIN = ("v1", "v2")
REQUIRED_TABLES = ("sdc_false", "sdc_true", "constrained_on")
TABLE_TITLES = {
    "sdc_false": "SDC FALSE",
    "sdc_true": "SDC TRUE",
    "constrained_on": "Constrained on (status -1)",
    "constrained_off": "Constrained off (status +1)",
}
_TOP_LEVEL_KEYS = {"name", "description", "price_types", "price_type_10", *codes.TABLES}
#: A variant's name: it names its output folder and columns, so letters, digits, _ and - only.
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_TERM = re.compile(r"^(?:PB(?P<band>[1-9]\d*)|(?P<dir>[<>])\s*(?P<ref>[A-Za-z+]+))$", re.IGNORECASE)
_CALL = re.compile(r"^(?P<op>min|max)\s*\((?P<args>.*)\)$", re.IGNORECASE)
_REFERENCE_BY_KEY = {ref.lower(): ref for ref in codes.REFERENCES}


class Term(NamedTuple):
    """One condition: band ``PBk`` (``direction`` empty) or ``>X`` / ``<X``."""

    direction: str
    reference: str
    band: int

    @property
    def code(self) -> int:
        if not self.direction:
            return self.band
        base = codes.TERM_ABOVE if self.direction == ">" else codes.TERM_BELOW
        return base + codes.REFERENCES.index(self.reference)

    def __str__(self) -> str:
        return f"PB{self.band}" if not self.direction else f"{self.direction}{self.reference}"


class Cell(NamedTuple):
    """One cell of a rule table: N/A (no terms), one term, or min/max of several."""

    op: str  # "N/A", "term", "min" or "max"
    terms: tuple[Term, ...]

    @property
    def text(self) -> str:
        if self.op == "N/A":
            return "N/A"
        if self.op == "term":
            return str(self.terms[0])
        return f"{self.op}({', '.join(map(str, self.terms))})"


@dataclass(frozen=True)
class Variant:
    """A parsed rule variant: its four tables (the fourth optional) and the PT = 10 cell."""

    name: str
    description: str
    source: str
    price_type_10: Cell
    tables: Mapping[str, Mapping[tuple[int, int], Cell]]

    def cell(self, table: str, *, price_phase: int, price_type: int) -> Cell:
        return self.tables[table][(price_phase, price_type)]

    @property
    def uses_frrp(self) -> bool:
        cells = [self.price_type_10, *(c for t in self.tables.values() for c in t.values())]
        return any(term.reference == "FRRP" for cell in cells for term in cell.terms)


class CompiledRules(NamedTuple):
    """Several variants as the small integer arrays the allocation kernel interprets.

    ``op[v, c]`` is the operator of cell ``c`` (``codes.N_CELLS`` cells: four tables of nine, then
    the PT = 10 cell), ``terms[v, c, :]`` its term codes (0 = none), and ``route[v, s + 1, sdc]``
    the table slot used for constraint status ``s`` and semi-dispatch cap ``sdc``.
    """

    op: np.ndarray
    terms: np.ndarray
    route: np.ndarray
    uses_frrp: bool


def load_variant(name_or_path: str | Path | Variant) -> Variant:
    """Load a built-in variant by name (``"v1"``, ``"v2"``) or a user's variant file by path; a
    variant already loaded is returned as it is (so a long run reads each file once)."""
    if isinstance(name_or_path, Variant):
        return name_or_path
    if isinstance(name_or_path, str) and name_or_path in BUILTIN:
        text = resources.files(__package__).joinpath(f"{name_or_path}.toml").read_text("utf-8")
        return parse_variant(text, source=f"built-in {name_or_path}", default_name=name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise RuleError(
            f"unknown rule variant {str(name_or_path)!r}: not a built-in "
            f"({', '.join(BUILTIN)}) and no such file"
        )
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: cannot read rule file: {exc}") from exc
    return parse_variant(text, source=str(path), default_name=path.stem)


def load_variants(
    names_or_paths: Iterable[str | Path | Variant] | str | Path | Variant,
) -> list[Variant]:
    """Load several variants; their names must differ, since results are labelled by name."""
    if isinstance(names_or_paths, str | Path | Variant):
        names_or_paths = [names_or_paths]
    variants = [load_variant(item) for item in names_or_paths]
    if not variants:
        raise RuleError("no rule variant given")
    seen: dict[str, str] = {}
    for variant in variants:
        if variant.name in seen:
            raise RuleError(
                f"two rule variants are named {variant.name!r} ({seen[variant.name]} and "
                f"{variant.source}); give one a different `name`"
            )
        seen[variant.name] = variant.source
    return variants


def parse_variant(text: str, *, source: str, default_name: str) -> Variant:
    """Parse the TOML text of a variant; errors name ``source``, the table and the cell."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{source}: not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - _TOP_LEVEL_KEYS)
    if unknown:
        raise RuleError(
            f"{source}: unknown key {unknown[0]!r} (expected name, description, price_types, "
            f"price_type_10 and the tables {', '.join(codes.TABLES)})"
        )
    name = data.get("name", default_name)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        given = "" if "name" in data else " (from the file name: set `name` in the file)"
        raise RuleError(
            f"{source}: `name` must be letters, digits, '_' or '-' (it names an output folder), "
            f"got {name!r}{given}"
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        raise RuleError(f"{source}: `description` must be a string")
    price_types = _parse_price_types(data.get("price_types", list(codes.TABLE_PRICE_TYPES)), source)
    pt10_text = data.get("price_type_10", "PB1")
    price_type_10 = _parse_cell(pt10_text, f"{source}: price_type_10")
    tables = {}
    for table in codes.TABLES:
        if table not in data:
            if table in REQUIRED_TABLES:
                raise RuleError(f"{source}: table [{table}] is missing")
            continue
        tables[table] = _parse_table(data[table], price_types, f"{source}: table [{table}]")
    return Variant(name, description, source, price_type_10, tables)


def _parse_price_types(value: object, source: str) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not all(type(pt) is int for pt in value)
        or sorted(value) != sorted(codes.TABLE_PRICE_TYPES)
    ):
        raise RuleError(
            f"{source}: `price_types` must list the table columns -10, -1 and 1 once each, "
            f"got {value!r}"
        )
    return tuple(value)


def _parse_table(
    rows: object, price_types: tuple[int, ...], where: str
) -> dict[tuple[int, int], Cell]:
    if not isinstance(rows, dict):
        raise RuleError(f"{where}: must be a table of price phase -> cells")
    expected = {str(pp) for pp in codes.TABLE_PRICE_PHASES}
    if set(rows) != expected:
        raise RuleError(
            f"{where}: rows must be the price phases 1, -1 and -10 exactly, got "
            f"{', '.join(sorted(rows)) or 'none'}"
        )
    cells = {}
    for key, row in rows.items():
        price_phase = int(key)
        if not isinstance(row, list) or len(row) != len(price_types):
            raise RuleError(
                f"{where}, PP = {price_phase}: must be a list of {len(price_types)} cells "
                f"(one per price type {price_types})"
            )
        for price_type, text in zip(price_types, row, strict=True):
            cells[(price_phase, price_type)] = _parse_cell(
                text, f"{where}, PP = {price_phase}, PT = {price_type}"
            )
    return cells


def _parse_cell(text: object, where: str) -> Cell:
    if not isinstance(text, str):
        raise RuleError(f"{where}: a cell must be a string, got {text!r}")
    stripped = text.strip()
    if stripped.upper() == "N/A":
        return Cell("N/A", ())
    call = _CALL.match(stripped)
    if call is None:
        return Cell("term", (_parse_term(stripped, text, where),))
    args = [arg.strip() for arg in call["args"].split(",")]
    if not 1 <= len(args) <= codes.MAX_TERMS or not all(args):
        raise RuleError(
            f"{where}: cannot read cell {text!r}: {call['op'].lower()}(...) takes 1 to "
            f"{codes.MAX_TERMS} terms separated by commas"
        )
    return Cell(call["op"].lower(), tuple(_parse_term(arg, text, where) for arg in args))


def _parse_term(term: str, cell_text: str, where: str) -> Term:
    match = _TERM.match(term)
    if match is None:
        raise RuleError(
            f"{where}: cannot read cell {cell_text!r}: {term!r} is not a term "
            "(expected N/A, PBk, >X or <X, or min/max of terms)"
        )
    if match["band"] is not None:
        band = int(match["band"])
        if not 1 <= band <= 10:
            raise RuleError(f"{where}: cannot read cell {cell_text!r}: there is no band PB{band}")
        return Term("", "", band)
    reference = _REFERENCE_BY_KEY.get(match["ref"].lower())
    if reference is None:
        raise RuleError(
            f"{where}: cannot read cell {cell_text!r}: unknown reference {match['ref']!r} "
            f"(expected {', '.join(codes.REFERENCES)})"
        )
    return Term(match["dir"], reference, 0)


def compile_variants(variants: Iterable[Variant]) -> CompiledRules:
    """Compile variants into the arrays of :class:`CompiledRules`, one row per variant."""
    variants = list(variants)
    n = len(variants)
    op = np.zeros((n, codes.N_CELLS), dtype=np.int8)
    terms = np.zeros((n, codes.N_CELLS, codes.MAX_TERMS), dtype=np.int8)
    route = np.zeros((n, 3, 2), dtype=np.int8)
    op_codes = {"N/A": codes.OP_NOT_APPLICABLE, "max": codes.OP_MAX}
    for v, variant in enumerate(variants):
        for index, cell in numbered_cells(variant):
            op[v, index] = op_codes.get(cell.op, codes.OP_MIN)
            terms[v, index, : len(cell.terms)] = [term.code for term in cell.terms]
        status_off = (
            (codes.SLOT_CONSTRAINED_OFF,) * 2
            if "constrained_off" in variant.tables
            else (codes.SLOT_SDC_FALSE, codes.SLOT_SDC_TRUE)
        )
        route[v, 0, :] = codes.SLOT_CONSTRAINED_ON
        route[v, 1, :] = (codes.SLOT_SDC_FALSE, codes.SLOT_SDC_TRUE)
        route[v, 2, :] = status_off
    return CompiledRules(op, terms, route, any(v.uses_frrp for v in variants))


def numbered_cells(variant: Variant) -> Iterable[tuple[int, Cell]]:
    """Each cell of the variant with its index in the kernel's cell numbering."""
    yield codes.CELL_PRICE_TYPE_10, variant.price_type_10
    n_types = len(codes.TABLE_PRICE_TYPES)
    for slot, table in enumerate(codes.TABLES):
        for (price_phase, price_type), cell in variant.tables.get(table, {}).items():
            row = codes.TABLE_PRICE_PHASES.index(price_phase)
            yield (
                slot * codes.CELLS_PER_TABLE
                + row * n_types
                + codes.TABLE_PRICE_TYPES.index(price_type),
                cell,
            )


def format_variant(variant: Variant) -> str:
    """The variant as the tables of SPEC §2 (Markdown), rows PP, columns PT."""
    lines = [f"# {variant.name}: {variant.description}".rstrip(": "), f"source: {variant.source}"]
    lines += ["", f"PT = 10 -> {variant.price_type_10.text}, whatever the status", ""]
    if "constrained_off" not in variant.tables:
        lines += ["Constraint status +1 uses the SDC tables of status 0.", ""]
    for table, cells in variant.tables.items():
        lines.append(TABLE_TITLES[table])
        header = " | ".join(str(pt) for pt in codes.TABLE_PRICE_TYPES)
        lines += [f"| PP \\ PT | {header} |", "|---" * (len(codes.TABLE_PRICE_TYPES) + 1) + "|"]
        for pp in codes.TABLE_PRICE_PHASES:
            row = " | ".join(cells[(pp, pt)].text for pt in codes.TABLE_PRICE_TYPES)
            lines.append(f"| {pp} | {row} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
