"""Rule variants as data: the shipped tables match SPEC §2; bad files fail naming file and cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bidstack.errors import RuleError
from bidstack.kernel import codes
from bidstack.rules import compile_variants, format_variant, load_variant, load_variants

# SPEC §2, transcribed by hand: rows PP 1, -1, -10; columns PT -10, -1, 1.
SPEC_TABLES = {
    "v1": {
        "sdc_false": [
            ["N/A", "N/A", ">TPmin"],
            ["N/A", "<SRMC+", ">TPmin"],
            ["<TPmax", ">SRMC+", "<SRMC+"],
        ],
        "sdc_true": [
            ["N/A", "N/A", "PB1"],
            ["N/A", "<SRMC+", "PB1"],
            ["<TPmax", ">SRMC+", "PB1"],
        ],
        "constrained_on": [
            ["N/A", "N/A", ">TPmin"],
            ["N/A", "<TPmax", ">TPmin"],
            ["PB10", "PB10", "<TPmax"],
        ],
    },
    "v2": {
        "sdc_false": [
            ["N/A", "N/A", "min(>TPmin, <SRMC+)"],
            ["N/A", "min(<TPmax, <SRMC+)", "min(>TPmin, <SRMC+)"],
            ["max(<TPmax, >SRMC+)", "min(<TPmax, >SRMC+)", "min(<TPmax, <SRMC+)"],
        ],
        "sdc_true": [
            ["N/A", "N/A", "PB1"],
            ["N/A", "min(<TPmax, <SRMC+)", "min(>TPmin, <SRMC+)"],
            ["max(<TPmax, >SRMC+)", "min(<TPmax, >SRMC+)", "min(<TPmax, <SRMC+)"],
        ],
        "constrained_on": [
            ["N/A", "N/A", "min(>TPmin, <SRMC+)"],
            ["N/A", "max(<TPmax, <SRMC+)", "min(>TPmin, <SRMC+)"],
            ["PB10", "PB10", "max(<TPmax, <SRMC+)"],
        ],
    },
}

VALID = """
name = "mine"
price_types = [-10, -1, 1]
[sdc_false]
1 = ["N/A", "N/A", ">TPmin"]
-1 = ["N/A", "<SRMC+", ">TPmin"]
-10 = ["<TPmax", ">SRMC+", "<SRMC+"]
[sdc_true]
1 = ["N/A", "N/A", "PB1"]
-1 = ["N/A", "<SRMC+", "PB1"]
-10 = ["<TPmax", ">SRMC+", "PB1"]
[constrained_on]
1 = ["N/A", "N/A", ">TPmin"]
-1 = ["N/A", "<TPmax", ">TPmin"]
-10 = ["PB10", "PB10", "<TPmax"]
"""


@pytest.mark.parametrize("name", ["v1", "v2"])
def test_builtin_variants_are_the_spec_tables(name: str) -> None:
    variant = load_variant(name)
    assert variant.name == name
    assert variant.price_type_10.text == "PB1"
    assert set(variant.tables) == set(SPEC_TABLES[name])
    for table, rows in SPEC_TABLES[name].items():
        for pp, row in zip((1, -1, -10), rows, strict=True):
            for pt, text in zip((-10, -1, 1), row, strict=True):
                assert variant.cell(table, price_phase=pp, price_type=pt).text == text


@pytest.mark.parametrize("name", ["v1", "v2"])
def test_not_applicable_cells_are_those_with_phase_above_type(name: str) -> None:
    variant = load_variant(name)
    for table in variant.tables.values():
        for (pp, pt), cell in table.items():
            assert (cell.text == "N/A") == (pp > pt)


def test_user_variant_is_loaded_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(VALID.replace("PB10", "PB9"))
    variant = load_variant(path)
    assert variant.name == "mine"
    assert variant.source == str(path)
    assert variant.cell("constrained_on", price_phase=-10, price_type=-10).text == "PB9"


def test_cell_text_is_read_leniently_and_shown_canonically(tmp_path: Path) -> None:
    path = tmp_path / "loose.toml"
    path.write_text(VALID.replace('">TPmin"]', '"MIN( > tpmin ,< srmc+ , <frrp)"]'))
    variant = load_variant(path)
    assert (
        variant.cell("sdc_false", price_phase=1, price_type=1).text == "min(>TPmin, <SRMC+, <FRRP)"
    )
    assert variant.uses_frrp
    assert not load_variant("v2").uses_frrp


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace("[sdc_true]", "[sdc_ture]"), "unknown key 'sdc_ture'"),
        (lambda t: t.replace('">TPmin"]', '">TPmid"]', 1), "table [sdc_false], PP = 1, PT = 1"),
        (lambda t: t.replace('">TPmin"]', '">TPmid"]', 1), "unknown reference 'TPmid'"),
        (lambda t: t.replace('"PB10", "PB10"', '"PB11", "PB10"'), "there is no band PB11"),
        (
            lambda t: t.replace('"<TPmax", ">SRMC+", "PB1"]', '"<TPmax", "SRMC+", "PB1"]'),
            "table [sdc_true], PP = -10, PT = -1: cannot read cell 'SRMC+'",
        ),
        (lambda t: t.replace('"N/A", "N/A", "PB1"]', '"N/A", "PB1"]'), "must be a list of 3 cells"),
        (lambda t: t.replace('-10 = ["PB10"', '-5 = ["PB10"'), "rows must be the price phases"),
        (lambda t: t.replace('"<TPmax", ">TPmin"', '3, ">TPmin"'), "a cell must be a string"),
        (lambda t: t.replace('">TPmin"]', '"min(PB1, PB2, PB3, PB4, PB5)"]', 1), "1 to 4 terms"),
        (lambda t: t.replace("[-10, -1, 1]", "[-10, 1, 1]"), "`price_types` must list"),
        (lambda t: t.replace("[-10, -1, 1]", "[-10, -1, true]"), "`price_types` must list"),
        (lambda t: t.replace('"PB10", "PB10"', '"PB010", "PB10"'), "'PB010' is not a term"),
        (lambda t: t.replace('name = "mine"', 'name = "my rules"'), "`name` must be"),
        (lambda t: t.replace("[constrained_on]", "[constrained_on"), "not valid TOML"),
        (lambda t: t[: t.index("[constrained_on]")], "table [constrained_on] is missing"),
    ],
)
def test_malformed_file_names_file_table_and_cell(tmp_path: Path, change, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(change(VALID))
    with pytest.raises(RuleError) as error:
        load_variant(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)


def test_unknown_variant_and_duplicate_names_are_errors(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="unknown rule variant 'v9'"):
        load_variant("v9")
    copy = tmp_path / "copy.toml"
    copy.write_text(VALID.replace('name = "mine"', 'name = "v2"'))
    with pytest.raises(RuleError, match="two rule variants are named 'v2'"):
        load_variants(["v2", copy])


def test_compiled_routes_follow_the_spec_order(tmp_path: Path) -> None:
    path = tmp_path / "off.toml"
    path.write_text(
        VALID + '[constrained_off]\n1 = ["N/A", "N/A", "PB2"]\n'
        '-1 = ["N/A", "PB2", "PB2"]\n-10 = ["PB2", "PB2", "PB2"]\n'
    )
    rules = compile_variants([load_variant("v2"), load_variant(path)])
    status_minus, status_zero, status_plus = range(3)
    for v in range(2):
        assert list(rules.route[v, status_minus]) == [codes.SLOT_CONSTRAINED_ON] * 2
        assert list(rules.route[v, status_zero]) == [codes.SLOT_SDC_FALSE, codes.SLOT_SDC_TRUE]
    assert list(rules.route[0, status_plus]) == [codes.SLOT_SDC_FALSE, codes.SLOT_SDC_TRUE]
    assert list(rules.route[1, status_plus]) == [codes.SLOT_CONSTRAINED_OFF] * 2
    assert rules.op[0, codes.CELL_PRICE_TYPE_10] == codes.OP_MIN
    assert list(rules.terms[0, codes.CELL_PRICE_TYPE_10]) == [1, 0, 0, 0]
    # v2, SDC FALSE, PP = -10, PT = -10 is max(<TPmax, >SRMC+)
    cell = 2 * 3 + 0
    assert rules.op[0, cell] == codes.OP_MAX
    expected = [codes.TERM_BELOW + codes.REF_TP_MAX, codes.TERM_ABOVE + codes.REF_SRMC_PLUS, 0, 0]
    assert list(rules.terms[0, cell]) == expected
    assert rules.op.dtype == np.int8 and rules.terms.dtype == np.int8


def test_format_shows_the_three_tables() -> None:
    text = format_variant(load_variant("v2"))
    assert "SDC FALSE" in text and "SDC TRUE" in text and "Constrained on (status -1)" in text
    assert "| -10 | PB10 | PB10 | max(<TPmax, <SRMC+) |" in text
    assert "Constraint status +1 uses the SDC tables of status 0." in text


def test_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + VALID.encode())
    assert load_variant(path).name == "mine"
