"""The demo: its pieces without a task server, then ``examol demo --quick`` end to end through Parsl.

The end-to-end test needs the rdkit and xtb plugins and matplotlib (the ``demo`` extra); it is
skipped when they are absent (the ``tests-core`` session installs the core alone).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from examol_core.demo.campaign import (
    CHEAP,
    EXPENSIVE,
    LEVELS,
    TOP,
    CampaignResult,
    DemoError,
    DemoSettings,
    check_plugins,
    expected_improvement,
    hide_expensive_levels,
    load_dataset,
    prepare_data,
    top_indices,
    upper_confidence_bound,
)
from examol_core.demo.report import overlap_seconds
from examol_core.errors import MissingDataError
from examol_core.plugins import available_scorers, available_simulators


@pytest.fixture(scope='module')
def dataset():
    return load_dataset()


def test_hidden_records_know_only_the_cheap_level(dataset):
    record = next(r for r in dataset if TOP.lookup(r) is not None)
    hidden = hide_expensive_levels(record)
    assert hidden.properties == {CHEAP.name: {CHEAP.level: CHEAP.lookup(record)}}
    assert CHEAP.lookup(hidden, recompute=True) == pytest.approx(CHEAP.lookup(record))
    for recipe in EXPENSIVE:
        with pytest.raises(MissingDataError):
            recipe.compute_property(hidden)
        assert recipe.suggest_computations(hidden), 'the simulations to reveal it are proposed'
    assert all(e.config_name != 'gfn2' for c in hidden.conformers for e in c.energies)
    assert TOP.lookup(record) is not None, 'the original record is untouched'


def test_split_is_disjoint_and_only_the_seed_is_labelled(dataset):
    settings = DemoSettings(seed_size=7, test_size=20, pool_size=60)
    data = prepare_data(dataset, settings)
    pool_keys, test_keys = {r.key for r in data.pool}, {r.key for r in data.test}
    assert len(pool_keys) == 60 and len(test_keys) == 20 and not pool_keys & test_keys
    labelled = [i for i, r in enumerate(data.pool) if TOP.lookup(r) is not None]
    assert labelled == data.seed and len(data.seed) == 7
    assert all(CHEAP.lookup(r) is not None for r in [*data.pool, *data.test])
    assert all(TOP.lookup(r) is None for r in data.test)
    for record in [*data.pool, *data.test]:
        assert set(data.truth[record.key]) == {level.level for level in LEVELS}
    again = prepare_data(dataset, settings)
    assert [r.key for r in again.pool] == [r.key for r in data.pool] and again.seed == data.seed


def test_acquisition_functions():
    mean, std = np.array([1.0, 2.0, 1.5]), np.array([2.0, 0.0, 0.1])
    assert top_indices(upper_confidence_bound(mean, std, 1.0), 2) == [0, 1]
    assert top_indices(upper_confidence_bound(mean, std, 0.0), 2) == [1, 2]
    ei = expected_improvement(mean, std, best=1.8)
    assert ei[1] == pytest.approx(0.2, abs=1e-6), 'no uncertainty: the improvement itself'
    assert ei[0] > ei[2] > 0, 'uncertainty makes a lower mean worth trying'
    assert top_indices(np.array([1., 1., 0.]), 3) == [0, 1, 2]


def test_overlap_of_task_intervals():
    assert overlap_seconds([(0, 2), (1, 3)], [(2.5, 4)]) == pytest.approx(0.5)
    assert overlap_seconds([(0, 1)], [(1, 2)]) == 0
    assert overlap_seconds([(0, 10)], [(1, 2), (3, 5)]) == pytest.approx(3)


def test_bad_settings_and_missing_plugins_are_named():
    with pytest.raises(DemoError, match='rounds must be at least 1'):
        DemoSettings(rounds=0).check()
    with pytest.raises(DemoError, match='pool-size'):
        DemoSettings(pool_size=5, seed_size=10).check()
    with pytest.raises(DemoError, match="scorer plugin 'nope'.*Install a package providing the scorer 'nope'"):
        check_plugins(DemoSettings(scorer='nope'))


def test_cli_rejects_bad_options_before_starting_anything():
    from typer.testing import CliRunner

    from examol_core.cli import app

    result = CliRunner().invoke(app, ['demo', '--rounds', '0', '--batch-size', '0'])
    assert result.exit_code == 2
    text = ' '.join(result.output.split())
    assert 'rounds must be at least 1' in text and 'batch-size must be at least 1' in text


NEEDS = [name for name, present in (
    ('the rdkit scorer plugin', 'rdkit' in available_scorers()),
    ('the xtb simulator plugin', 'xtb' in available_simulators()),
    ('matplotlib', importlib.util.find_spec('matplotlib') is not None)) if not present]


@pytest.mark.slow
@pytest.mark.skipif(bool(NEEDS), reason=f'the demo needs {", ".join(NEEDS)}')
def test_quick_demo_end_to_end(tmp_path, dataset):
    """``examol demo --quick`` through a Parsl task server: report, plots and consistent numbers."""
    out = tmp_path / 'demo'
    env = {**os.environ, 'PATH': f'{Path(sys.executable).parent}{os.pathsep}{os.environ.get("PATH", "")}',
           'COLUMNS': '120'}
    run = subprocess.run([sys.executable, '-m', 'examol_core', 'demo', '--quick', '--output-dir', str(out)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    for name in ('report.md', 'results.json', 'best-found.png', 'parity.png', 'timeline.png'):
        path = out / name
        assert path.is_file() and path.stat().st_size > 1000, name
        if name.endswith('.png'):
            assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    result = CampaignResult.from_json(json.loads((out / 'results.json').read_text()))
    report = (out / 'report.md').read_text()
    settings = result.settings
    stored = {r.identifier.smiles: TOP.lookup(r) for r in dataset}
    test = set(result.test_smiles)

    assert [s.key for s in result.strategies] == ['multi', 'single', 'random']
    for strategy in result.strategies:
        history = strategy.history
        assert [h.round for h in history] == list(range(settings.rounds + 1))
        bests = [h.best for h in history]
        assert all(b2 >= b1 for b1, b2 in zip(bests, bests[1:])), f'{strategy.key}: best found decreased: {bests}'
        known = list(result.seed_smiles)
        for h in history:
            assert len(h.acquired) == (0 if h.round == 0 else settings.batch_size)
            assert not set(h.acquired) & (set(known) | test), 'acquired twice, or a held-out molecule'
            # The values folded in are the simulated ones, which reproduce the stored data set
            for smiles, value in zip(h.acquired, h.values, strict=True):
                assert value == pytest.approx(stored[smiles], abs=1e-4)
            known += h.acquired
            assert h.labelled == len(known) - len(strategy.failed)
            assert h.best == pytest.approx(max(stored[s] for s in known))
            assert stored[h.best_smiles] == pytest.approx(h.best)
        assert f'| {strategy.label} | {history[-1].best:.3f} | `{history[-1].best_smiles}` |' in report
    assert max(c.max_abs_diff for c in result.checks) < 1e-4

    true = np.array(result.test_true)
    assert true == pytest.approx([stored[s] for s in result.test_smiles])
    maes = {}
    for strategy in result.strategies[:2]:
        maes[strategy.key] = float(np.mean(np.abs(np.array(strategy.test_mean) - true)))
        assert strategy.final_mae == pytest.approx(maes[strategy.key])
        assert all(h.mae is not None for h in strategy.history)
    assert f'multi-fidelity {maes["multi"]:.3f} eV' in report and f'single-fidelity {maes["single"]:.3f} eV' in report
    assert maes['multi'] < maes['single'], 'knowing the cheap level everywhere should help'

    topics = [t.topic for t in result.tasks]
    assert topics.count('train') == 2 * settings.ensemble_size * (settings.rounds + 1)
    assert topics.count('simulate') >= len(result.checks) + len(result.simulation_failures)
    assert result.timings['total'] < 240
    assert 'Best in the pool' in run.stdout
