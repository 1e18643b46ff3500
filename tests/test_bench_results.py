"""RESULTS.md sections: a benchmark's new run replaces its figures and keeps the history written by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent.parent / "benchmarks" / "_results.py"


@pytest.fixture
def results(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_results", HERE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "RESULTS", tmp_path / "RESULTS.md")
    return mod


def test_a_new_run_keeps_the_history_below_the_mark(results):
    results.RESULTS.write_text(
        "# Benchmark results\n\n## City\n\nold figures 441.8\n\n"
        f"{results.KEEP_MARK}\n| commit | s |\n| b9b37c3 | 441.8 |\n\n## Other\n\nuntouched\n",
        encoding="utf-8",
    )
    results.write_section("City", "new figures 450.0")
    text = results.RESULTS.read_text(encoding="utf-8")
    city = text.split("## City\n", 1)[1].split("## Other", 1)[0]
    assert "new figures 450.0" in city and "old figures" not in city
    assert city.index("new figures") < city.index(results.KEEP_MARK) < city.index("| b9b37c3 | 441.8 |")
    assert text.endswith("## Other\n\nuntouched\n")
    results.write_section("City", "newer figures 430.0")
    again = results.RESULTS.read_text(encoding="utf-8")
    assert again.count(results.KEEP_MARK) == 1 and again.count("| b9b37c3 | 441.8 |") == 1


def test_a_section_without_the_mark_is_replaced_whole(results):
    results.RESULTS.write_text("# Benchmark results\n\n## City\n\nold figures\n", encoding="utf-8")
    results.write_section("City", "new figures")
    text = results.RESULTS.read_text(encoding="utf-8")
    assert "old figures" not in text and "new figures" in text
