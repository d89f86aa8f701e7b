"""Every Python block of README.md and docs/*.md runs as written, in order, one namespace per file.

Blocks run in a scratch folder where ``examol_core/data`` is the shipped data, so the relative
paths the documents use work and nothing is written into the repository. A block that needs a
plugin that is not installed is skipped with the plugin's name, and so are the blocks after it
in the same file (they build on it).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
from pathlib import Path

import pytest

from examol_core.datasets import DATA_DIR

ROOT = Path(__file__).parents[1]
FILES = [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md'))]
BLOCK = re.compile(r'^```python\n(.*?)^```', re.MULTILINE | re.DOTALL)
NEEDS = {  # what a block mentions → (module to import, what to install)
    r'\bexamol_rdkit\b|[\'"]rdkit[\'"]': ('examol_rdkit', 'examol-rdkit (plugins/rdkit_scorer)'),
    r'\bexamol_nfp\b|[\'"]nfp[\'"]': ('examol_nfp', 'examol-nfp (plugins/nfp_scorer)'),
    r'\bexamol_xtb\b|[\'"]xtb[\'"]': ('examol_xtb', 'examol-xtb (plugins/xtb_simulator)'),
    r'\bexamol_toy\b': ('examol_toy', 'examol-toy (tests/toy_plugin)'),
}


def _blocks() -> list[tuple[Path, int, str]]:
    found = []
    for path in FILES:
        text = path.read_text()
        for match in BLOCK.finditer(text):
            found.append((path, text.count('\n', 0, match.start()) + 1, match.group(1)))
    return found


BLOCKS = _blocks()


def _missing(code: str) -> list[str]:
    return [dist for pattern, (module, dist) in NEEDS.items()
            if re.search(pattern, code) and importlib.util.find_spec(module) is None]


class _File:
    """What the blocks of one document share: a namespace, a scratch folder and how far they ran."""

    def __init__(self, folder: Path):
        self.namespace: dict = {'__name__': 'docs'}
        self.folder = folder
        (folder / 'examol_core').mkdir()
        (folder / 'examol_core' / 'data').symlink_to(DATA_DIR)
        self.ran = 0


@pytest.fixture(scope='module')
def documents(tmp_path_factory):
    return {path: _File(tmp_path_factory.mktemp(path.stem)) for path in FILES}


def test_the_documents_have_python_blocks():
    assert len(BLOCKS) >= 5, [f'{p.name}:{line}' for p, line, _ in BLOCKS]


@pytest.mark.parametrize(('path', 'line', 'code'), BLOCKS, ids=[f'{p.name}:{line}' for p, line, _ in BLOCKS])
def test_python_block_runs(path, line, code, documents):
    document = documents[path]
    mine = [block for block in BLOCKS if block[0] == path]
    index = next(i for i, block in enumerate(mine) if block[1] == line)
    needs = {dist: other for _, other, text in mine[:index + 1] for dist in _missing(text)}
    if needs:
        pytest.skip('needs ' + ', '.join(f'{dist} (block at line {other})' for dist, other in needs.items()))
    cwd = os.getcwd()
    os.chdir(document.folder)
    try:
        for _, other, text in mine[document.ran:index + 1]:  # earlier blocks first, if run alone
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(text, f'{path.name}:{other}', 'exec'), document.namespace)
            document.ran += 1
    finally:
        os.chdir(cwd)
