"""``examol demo --scorer chemprop``: the active-learning campaign with chemprop ensembles (needs examol-demo)."""
from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ('examol_demo', 'examol_xtb')),
                    reason='examol-demo and examol-xtb are not installed')
def test_demo_with_chemprop(tmp_path):
    env = {**os.environ, 'PATH': f'{Path(sys.executable).parent}{os.pathsep}{os.environ["PATH"]}'}
    # Three outputs: the demo's multi-fidelity strategy knows two lower levels; its single-fidelity
    # strategy trains the same network on the sum of its outputs
    run = subprocess.run([sys.executable, '-m', 'examol_core', 'demo', '--quick', '--local', '--rounds', '1',
                          '--ensemble', '2', '--scorer', 'chemprop', '--set', 'outputs=3', '--set', 'hidden_size=32',
                          '--set', 'ffn_hidden_size=32', '--set', 'train.num_epochs=5', '-o', str(tmp_path / 'out')],
                         capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads((tmp_path / 'out' / 'results.json').read_text())
    assert results['settings']['scorer'] == 'chemprop'
    learners = {s['learner']: s for s in results['strategies'] if s['learner'] in ('multi', 'single')}
    assert set(learners) == {'multi', 'single'}
    assert all(s['finished'] and not s['failed'] and math.isfinite(s['final_mae']) for s in learners.values())
