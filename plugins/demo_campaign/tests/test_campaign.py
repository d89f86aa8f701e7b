"""A tiny campaign end to end on a local Colmena task server, through ``examol demo`` and through Python.

Real tasks: ensembles train and score on worker threads, picked molecules get real xTB simulations.
"""
from __future__ import annotations

import numpy as np
import pytest
from examol_core.cli import app
from typer.testing import CliRunner

from examol_demo import CampaignResult, DemoSettings, run_campaign
from examol_demo.data import load_dataset
from examol_demo.settings import TOP

TINY = {'rounds': 2, 'batch_size': 3, 'seed_size': 5, 'test_size': 10, 'pool_size': 30, 'ensemble_size': 2,
        'chunk_size': 8, 'workers': 2, 'local': True, 'random_seed': 3}
OPTIONS = ['--rounds', '2', '--batch-size', '3', '--seed-size', '5', '--test-size', '10', '--pool-size', '30',
           '--ensemble', '2', '--chunk-size', '8', '--workers', '2', '--local', '--random-seed', '3']

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def stored():
    return {r.identifier.smiles: TOP.lookup(r) for r in load_dataset()}


@pytest.fixture(scope='module')
def command_run(tmp_path_factory):
    """``examol demo`` with the tiny settings: its output folder and printed text."""
    out = tmp_path_factory.mktemp('demo')
    result = CliRunner().invoke(app, ['demo', *OPTIONS, '--output-dir', str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope='module')
def result(command_run):
    out, _ = command_run
    return CampaignResult.model_validate_json((out / "results.json").read_text())


def test_every_strategy_folds_its_simulations_into_its_records(result, stored):
    test = set(result.test_smiles)
    assert [s.key for s in result.strategies] == ['multi', 'single', 'random']
    for strategy in result.strategies:
        assert [h.round for h in strategy.history] == [0, 1, 2]
        known = list(result.seed_smiles)
        for h in strategy.history:
            assert len(h.acquired) == (0 if h.round == 0 else 3)
            assert not set(h.acquired) & (set(known) | test), 'acquired twice, or a held-out molecule'
            for smiles, value in zip(h.acquired, h.values, strict=True):
                assert value == pytest.approx(stored[smiles], abs=1e-4), 'the simulated value, folded into the record'
            known += h.acquired
            assert h.labelled == len(known)
            assert h.best == pytest.approx(max(stored[s] for s in known))
            assert stored[h.best_smiles] == pytest.approx(h.best)


def test_every_simulation_is_accounted_for_and_run_once(result):
    picked = {s for st in result.strategies for h in st.history for s in h.acquired}
    assert {c.smiles for c in result.checks} | set(result.simulation_failures) == picked
    assert not result.simulation_failures
    assert max(c.max_abs_diff for c in result.checks) < 1e-4, 'xTB reproduces the stored data set'
    simulate = [t for t in result.tasks if t.topic == 'simulate']
    assert len(simulate) == len(picked), 'a molecule picked by several strategies is simulated once'
    assert all(t.success for t in result.tasks)


def test_learning_tasks_and_held_out_accuracy(result):
    topics = [t.topic for t in result.tasks]
    # two learners, one ensemble per round plus the final one
    assert topics.count('train') == 2 * 2 * 3
    pool = 30
    # each scoring covers the candidates left (none after the last round) and the 10 held-out molecules
    expected = sum(-(-(pool - 5 - 3 * r + 10) // 8) for r in range(2)) + -(-10 // 8)
    assert topics.count('score') == 2 * expected
    true = np.array(result.test_true)
    for strategy in result.strategies[:2]:
        assert len(strategy.test_mean) == len(strategy.test_std) == 10
        assert strategy.final_mae == pytest.approx(float(np.mean(np.abs(np.array(strategy.test_mean) - true))))
        assert all(h.mae is not None for h in strategy.history)
    assert result.strategies[2].test_mean is None and result.strategies[2].final_mae is None


def test_report_files_hold_the_campaign(command_run, result):
    out, printed = command_run
    for name in ('report.md', 'results.json', 'best-found.png', 'parity.png', 'timeline.png'):
        assert (out / name).is_file(), name
        if name.endswith('.png'):
            assert (out / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    report = (out / 'report.md').read_text()
    for strategy in result.strategies:
        last = strategy.history[-1]
        assert f'| {strategy.label} | {last.best:.3f} | `{last.best_smiles}` |' in report
    multi, single = result.strategy('multi').final_mae, result.strategy('single').final_mae
    assert f'multi-fidelity {multi:.3f} eV' in report and f'single-fidelity {single:.3f} eV' in report
    assert f'{len(result.checks)} molecules simulated ({len(result.checks)} tasks)' in report
    assert 'Best in the pool' in printed and f'{max(result.pool_top):.3f} eV' in printed


def test_a_seeded_campaign_reproduces(result):
    again = run_campaign(DemoSettings(**TINY))
    for first, second in zip(result.strategies, again.strategies, strict=True):
        assert [h.acquired for h in second.history] == [h.acquired for h in first.history], first.key
        assert second.test_mean == pytest.approx(first.test_mean) if first.test_mean else second.test_mean is None
