"""The Python examples of docs/analysis.md run (in a temporary directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysis.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_doc_example_runs(index, tmp_path, monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(BLOCKS[index], f"docs/analysis.md block {index}", "exec"), namespace)  # noqa: S102
    capsys.readouterr()
    # the example ran to its end: every name it assigns at top level exists
    assigned = set(re.findall(r"^(\w+)\s*=", BLOCKS[index], flags=re.M))
    assert assigned <= set(namespace), sorted(assigned - set(namespace))


def test_doc_has_examples():
    assert len(BLOCKS) >= 3
