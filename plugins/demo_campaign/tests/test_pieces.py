"""The demo's pieces without a task server: data split, acquisition, settings, plugin checks, the command."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from examol_core.cli import app
from examol_core.errors import MissingDataError
from examol_core.plugins import ScorerSpec, get_plugin_manager, hookimpl
from examol_core.scorer import Scorer
from typer.testing import CliRunner

from examol_demo import run_campaign
from examol_demo.acquisition import expected_improvement, pick, top_indices, upper_confidence_bound
from examol_demo.data import hide_expensive_levels, load_dataset, prepare_data
from examol_demo.report import overlap_seconds
from examol_demo.settings import CHEAP, EXPENSIVE, LEVELS, TOP, DemoError, DemoSettings, check_plugins
from examol_demo.thinker import SerialSends


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
    assert all(e.config_name != 'gfn2' for c in hidden.conformers for e in c.energies)
    assert TOP.lookup(record) is not None, 'the original record is untouched'


def test_split_is_disjoint_seeded_and_only_the_seed_is_labelled(dataset):
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
    other = prepare_data(dataset, DemoSettings(seed_size=7, test_size=20, pool_size=60, random_seed=1))
    assert [r.key for r in other.pool] != [r.key for r in data.pool]


def test_acquisition_functions():
    mean, std = np.array([1.0, 2.0, 1.5]), np.array([2.0, 0.0, 0.1])
    assert top_indices(upper_confidence_bound(mean, std, 1.0), 2) == [0, 1]
    assert top_indices(upper_confidence_bound(mean, std, 0.0), 2) == [1, 2]
    ei = expected_improvement(mean, std, best=1.8)
    assert ei[1] == pytest.approx(0.2, abs=1e-6), 'no uncertainty: the improvement itself'
    assert ei[0] > ei[2] > 0, 'uncertainty makes a lower mean worth trying'
    assert top_indices(np.array([1., 1., 0.]), 3) == [0, 1, 2]
    assert pick('ucb', mean, std, 1, beta=0.0) == [1]
    assert pick('ei', mean, std, 1, best=5.0) == [0], 'far below the best, only the uncertain one can improve'
    with pytest.raises(ValueError, match='ucb'):
        pick('greedy', mean, std, 1)


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
    with pytest.raises(DemoError, match="simulator plugin 'nosim'"):
        check_plugins(DemoSettings(simulator='nosim'))
    with pytest.raises(DemoError, match="has no model 'forest'; it provides: gpr, knn"):
        check_plugins(DemoSettings(model='forest'))
    assert check_plugins(DemoSettings()) == 'knn', 'the default model of the default scorer'
    assert check_plugins(DemoSettings(model='gpr')) == 'gpr'


def test_command_rejects_bad_options_before_starting_anything():
    result = CliRunner().invoke(app, ['demo', '--rounds', '0', '--batch-size', '0', '--set', 'nokey'])
    assert result.exit_code == 2
    assert "is not of the form key=value" in ' '.join(result.output.split())
    result = CliRunner().invoke(app, ['demo', '--rounds', '0', '--batch-size', '0'])
    assert result.exit_code == 2
    text = ' '.join(result.output.split())
    assert 'rounds must be at least 1' in text and 'batch-size must be at least 1' in text


def test_agents_send_one_task_at_a_time():
    class Probe:
        topics = ('train',)

        def __init__(self):
            self.inside = self.most = 0

        def send_inputs(self, *args, **kwargs):
            self.inside += 1
            self.most = max(self.most, self.inside)
            time.sleep(0.005)
            self.inside -= 1
            return 'task'

    probe = Probe()
    queues = SerialSends(probe)
    threads = [threading.Thread(target=lambda: [queues.send_inputs(1, topic='train') for _ in range(5)])
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert probe.most == 1, 'two agents were sending at once'
    assert queues.topics == ('train',), 'everything else is the queues\' own'


class _SingleFidelityScorer(Scorer):
    def transform_inputs(self, records):
        return [r.identifier.smiles for r in records]

    def prepare_message(self, model, training=False):
        return model

    def score(self, model_msg, inputs):
        return np.zeros(len(inputs))

    def retrain(self, model_msg, inputs, outputs):
        return None

    def update(self, model, update_msg):
        return model


class _SingleFidelityPlugin:
    @hookimpl
    def examol_scorers(self):
        return [ScorerSpec(name='single-only', scorer=_SingleFidelityScorer, models={'none': dict})]


def test_a_scorer_without_lower_fidelities_is_refused_before_anything_starts():
    pm = get_plugin_manager()
    plugin = _SingleFidelityPlugin()
    pm.register(plugin, name='single-only')
    try:
        with pytest.raises(DemoError, match="Scorer 'single-only' does not learn from lower fidelities"):
            run_campaign(DemoSettings(scorer='single-only', local=True, **DemoSettings.QUICK))
    finally:
        pm.unregister(plugin)
