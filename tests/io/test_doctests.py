"""The examples in the io modules' docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["bidstack.io.schema", "bidstack.io.read"])
def test_docstring_examples(module: str):
    failures, tried = doctest.testmod(importlib.import_module(module))
    assert tried > 0 and failures == 0
