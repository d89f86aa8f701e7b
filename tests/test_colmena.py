"""The Colmena bridge with Colmena's LocalTaskServer: cheap, real round trips through queues.

The Parsl end-to-end tests are in test_colmena_parsl.py, the Redis path in test_colmena_redis.py.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from examol_core.colmena import (
    IncompleteJobError,
    ScorerClient,
    TaskServerDied,
    chunk_bounds,
    make_methods,
    retrain_task,
    start_task_server,
    wait_all,
)
from examol_core.colmena.methods import EnsembleMessage, score_smiles_task
from examol_core.errors import ShapeMismatchError
from examol_core.multifi import collect_outputs
from examol_core.testing import FIDELITIES, REFERENCE_SMILES, make_reference_records


@pytest.fixture
def data(savetoy):
    records = make_reference_records()
    scorer = savetoy.SaveableLookupScorer()
    return records, scorer.transform_inputs(records), scorer.transform_outputs(records, FIDELITIES[-1])


def _in_process(scorer, model, inputs, outputs, **kwargs):
    msg = scorer.prepare_message(model, training=True)
    return scorer.update(model, scorer.retrain(msg, inputs, outputs, **kwargs))


def test_methods_are_named_and_pickle(savetoy):
    methods = make_methods(savetoy.SaveableLookupScorer(), retrain_options={'lower_fidelities': None})
    assert methods.scorer_name == 'savetoy', 'the name comes from the plugin registry'
    assert [f.__name__ for f in methods] == ['savetoy_retrain', 'savetoy_score', 'savetoy_score_smiles']
    other = make_methods(savetoy.SaveableLookupScorer(), 'other')
    assert {f.__name__ for f in methods}.isdisjoint(f.__name__ for f in other)
    for function in methods:
        copy = pickle.loads(pickle.dumps(function))
        assert copy.__name__ == function.__name__ and copy.keywords == function.keywords


def test_retrain_and_score_match_in_process(savetoy, data):
    records, inputs, outputs = data
    scorer = savetoy.SaveableLookupScorer()
    methods = make_methods(scorer)
    with start_task_server(methods, local=True) as server:
        client = ScorerClient(server.queues, scorer, methods)
        job = client.submit_retrain(savetoy.LookupModel(), inputs, outputs)
        assert job.wait(timeout=60, check_alive=server.check_alive), job.failures
        model = job.update(savetoy.LookupModel())
        scoring = client.submit_score(model, inputs, chunk_size=5)
        assert scoring.size == 4 and scoring.wait(timeout=60)
        scores = scoring.collect()
    expected_model = _in_process(scorer, savetoy.LookupModel(), inputs, outputs)
    expected = scorer.score(scorer.prepare_message(expected_model), inputs)
    np.testing.assert_array_equal(scores.mean, expected)
    assert scores.std is None and not scores.missing.any()


def test_local_server_with_several_workers_keeps_results_intact(savetoy, data):
    """Results finishing at once on several threads must not interleave on the result pipe."""
    records, inputs, outputs = data
    scorer = savetoy.SaveableLookupScorer()
    methods = make_methods(scorer)
    model = _in_process(scorer, savetoy.LookupModel(), inputs, outputs)
    # Results of several kB (more than one atomic pipe write), but few enough that the pipes never fill
    # while this thread is still submitting
    many = list(inputs) * 40
    expected = scorer.score(scorer.prepare_message(model), many)
    with start_task_server(methods, local=True, workers=4) as server:
        client = ScorerClient(server.queues, scorer, methods)
        jobs = [client.submit_score(model, many, chunk_size=240) for _ in range(2)]
        wait_all(jobs, timeout=60, check_alive=server.check_alive)
        for job in jobs:
            np.testing.assert_array_equal(job.collect().mean, expected)


def test_multifidelity_through_the_queues(savetoy):
    records = make_reference_records(missing_top=(2, 7))
    scorer = savetoy.SaveableLookupScorer()
    inputs = scorer.transform_inputs(records)
    outputs = scorer.transform_outputs(records, FIDELITIES[-1])
    lower = collect_outputs(records, FIDELITIES[:-1])
    methods = make_methods(scorer)
    with start_task_server(methods, local=True) as server:
        client = ScorerClient(server.queues, scorer, methods)
        job = client.submit_retrain(savetoy.LookupModel(), inputs, outputs, lower_fidelities=lower)
        job.wait(timeout=60)
        model = job.update(savetoy.LookupModel())
        scoring = client.submit_score(model, inputs, lower_fidelities=lower + 1., chunk_size=4)
        scoring.wait(timeout=60)
        scores = scoring.collect().mean
    local = _in_process(scorer, savetoy.LookupModel(), inputs, outputs, lower_fidelities=lower)
    np.testing.assert_allclose(scores, scorer.score(scorer.prepare_message(local), inputs, lower_fidelities=lower + 1.))


def test_bootstrap_ensemble(savetoy, data):
    _, inputs, outputs = data
    scorer = savetoy.SaveableLookupScorer()
    methods = make_methods(scorer)
    models = [savetoy.LookupModel() for _ in range(3)]
    with start_task_server(methods, local=True) as server:
        client = ScorerClient(server.queues, scorer, methods)
        job = client.submit_retrain(models, inputs, outputs, seed=7)
        assert job.bootstrap and job.wait(timeout=60)
        models = job.update(models)
        scoring = client.submit_score(models, inputs, chunk_size=7)
        scoring.wait(timeout=60)
        scores = scoring.collect()
    assert scores.members.shape == (3, len(inputs))
    np.testing.assert_allclose(scores.mean, scores.members.mean(axis=0))
    np.testing.assert_allclose(scores.std, scores.members.std(axis=0))
    assert scores.std.max() > 0, 'members trained on different bootstrap samples disagree somewhere'
    for i, model in enumerate(models):  # each member is what the same seed gives in-process
        update = retrain_task(scorer, None, inputs, outputs, bootstrap_seed=7 + i)
        assert model.tables == update


def test_large_messages_go_through_proxystore_once(savetoy, data):
    from proxystore.store import get_store

    _, inputs, outputs = data
    scorer = savetoy.SaveableLookupScorer()
    methods = make_methods(scorer)
    model = _in_process(scorer, savetoy.LookupModel(), inputs, outputs)
    with start_task_server(methods, local=True, proxy_threshold=100) as server:
        client = ScorerClient(server.queues, scorer, methods)
        scoring = client.submit_score(model, inputs, chunk_size=3)
        [(name, key)] = scoring.shared_keys
        store = get_store(name)
        assert store.exists(key), 'the model message is stored once and shared by the 6 chunks'
        scoring.wait(timeout=60)
        assert not store.exists(key), 'evicted once every chunk has succeeded'
        np.testing.assert_array_equal(scoring.collect().mean, scorer.score(scorer.prepare_message(model), inputs))


def test_failed_chunk_is_reported_kept_aligned_and_resubmitted(savetoy, data, tmp_path):
    _, inputs, outputs = data
    flag = tmp_path / 'fail'
    flag.touch()
    scorer = savetoy.SaveableLookupScorer(fail_on='c1ccccc1', flag=str(flag))  # index 5, in chunk 1
    methods = make_methods(scorer)
    model = _in_process(scorer, savetoy.LookupModel(), inputs, outputs)
    plain = savetoy.SaveableLookupScorer()
    expected = plain.score(plain.prepare_message(model), inputs)
    with start_task_server(methods, local=True, proxy_threshold=100) as server:
        client = ScorerClient(server.queues, scorer, methods)
        scoring = client.submit_score(model, inputs, chunk_size=4)
        assert not scoring.wait(timeout=60)
        [failure] = scoring.failures.values()
        assert (failure.index, failure.start, failure.stop) == (1, 4, 8)
        assert 'refusing to score c1ccccc1' in failure.exception and 'ValueError' in failure.traceback
        assert 'inputs 4-7' in str(failure)
        with pytest.raises(IncompleteJobError, match=r'1 of 5 score tasks failed.*refusing to score'):
            scoring.collect()
        partial = scoring.collect(allow_missing=True)
        np.testing.assert_array_equal(partial.missing, np.arange(len(inputs)) // 4 == 1)
        np.testing.assert_array_equal(partial.mean[~partial.missing], expected[~partial.missing])
        assert np.isnan(partial.mean[partial.missing]).all()
        with pytest.raises(ValueError, match='has not failed'):
            scoring.resubmit([0])
        flag.unlink()
        scoring.resubmit()
        assert scoring.wait(timeout=60)
        np.testing.assert_array_equal(scoring.collect().mean, expected)


def test_misshapen_results_are_failures_not_misaligned(savetoy, data):
    _, inputs, outputs = data
    scorer = savetoy.SaveableLookupScorer(extra_score=True)
    methods = make_methods(scorer)
    model = _in_process(scorer, savetoy.LookupModel(), inputs, outputs)
    with start_task_server(methods, local=True) as server:
        scoring = ScorerClient(server.queues, scorer, methods).submit_score(model, inputs, chunk_size=10)
        scoring.wait(timeout=60)
    assert sorted(scoring.failures) == [0, 1]
    assert 'returned scores of shape (11,); expected (10,)' in scoring.failures[0].exception


def test_results_of_other_jobs_are_refused(savetoy, data):
    _, inputs, outputs = data
    scorer = savetoy.SaveableLookupScorer()
    methods = make_methods(scorer)
    with start_task_server(methods, local=True) as server:
        client = ScorerClient(server.queues, scorer, methods)
        first = client.submit_retrain(savetoy.LookupModel(), inputs, outputs)
        second = client.submit_retrain(savetoy.LookupModel(), inputs, outputs)
        result = server.queues.get_result(topic='train', timeout=60)
        owner, other = (first, second) if first.owns(result) else (second, first)
        with pytest.raises(ValueError, match='does not belong'):
            other.add(result)
        assert owner.add(result) and owner.ok
        other.wait(timeout=60)
        assert other.ok


def test_bad_training_data_is_refused_before_sending(savetoy, data):
    _, inputs, outputs = data
    scorer = savetoy.SaveableLookupScorer()
    methods = make_methods(scorer)
    with start_task_server(methods, local=True) as server:
        client = ScorerClient(server.queues, scorer, methods)
        with pytest.raises(ShapeMismatchError, match='18 inputs but 17 outputs'):
            client.submit_retrain(savetoy.LookupModel(), inputs, outputs[:-1])
        with pytest.raises(ShapeMismatchError, match='lower_fidelities'):
            client.submit_score(savetoy.LookupModel(), inputs, lower_fidelities=np.zeros((3, 2)))
        empty = client.submit_score(savetoy.LookupModel(), [])
        assert empty.ok and empty.collect().mean.shape == (0,)
        assert server.queues.active_count == 0, 'nothing was sent'


def test_dead_task_server_is_noticed(savetoy, data):
    _, inputs, outputs = data
    scorer = savetoy.SaveableLookupScorer(delay=30)
    methods = make_methods(scorer)
    with pytest.raises(TaskServerDied, match='exited'):
        with start_task_server(methods, local=True) as server:
            client = ScorerClient(server.queues, scorer, methods)
            job = client.submit_retrain(savetoy.LookupModel(), inputs, outputs)
            job.wait(timeout=60, check_alive=server.check_alive)
            scoring = client.submit_score(job.update(savetoy.LookupModel()), inputs)
            server.server.kill()
            scoring.wait(timeout=60, check_alive=server.check_alive)


def test_stream_smiles_in_order_with_rejects_and_retries(savetoy, data, tmp_path):
    _, inputs, outputs = data
    flag = tmp_path / 'fail-once'
    flag.touch()
    scorer = savetoy.SaveableLookupScorer(fail_on='CCCC', flag=str(flag), once=True)
    methods = make_methods(scorer)
    model = _in_process(scorer, savetoy.LookupModel(), inputs, outputs)
    smiles = [*REFERENCE_SMILES[:6], 'C1CC', *REFERENCE_SMILES[6:], 'not a smiles', 'N(C)(C)(C)(C)C']
    with start_task_server(methods, local=True, proxy_threshold=100) as server:
        client = ScorerClient(server.queues, scorer, methods)
        chunks = list(client.stream_smiles(model, iter(smiles), chunk_size=4, max_in_flight=2, retries=1))
    assert [c.index for c in chunks] == list(range(6)) and [c.start for c in chunks] == list(range(0, 21, 4))
    assert [s for c in chunks for s in c.smiles] == smiles
    assert all(c.failure is None for c in chunks)
    assert [c.attempts for c in chunks] == [1, 1, 1, 1, 2, 1], 'the chunk holding CCCC failed once, then passed'
    rejects = {c.start + i: reason for c in chunks for i, reason in c.rejects}
    assert sorted(rejects) == [6, 19, 20]
    assert rejects[6] == 'unclosed ring' and 'contains whitespace' in rejects[19] and 'valence' in rejects[20]
    scores = np.concatenate([c.mean for c in chunks])
    keep = np.array([i not in rejects for i in range(len(smiles))])
    assert np.isnan(scores[~keep]).all()
    plain = savetoy.SaveableLookupScorer()
    np.testing.assert_array_equal(scores[keep], plain.score(plain.prepare_message(model), inputs))


def test_stream_reports_a_chunk_that_keeps_failing(savetoy, data):
    _, inputs, outputs = data
    scorer = savetoy.SaveableLookupScorer(fail_on='CC')
    methods = make_methods(scorer)
    model = [_in_process(scorer, savetoy.LookupModel(), inputs, outputs) for _ in range(2)]
    with start_task_server(methods, local=True) as server:
        client = ScorerClient(server.queues, scorer, methods)
        chunks = list(client.stream_smiles(model, REFERENCE_SMILES, chunk_size=5, retries=2))
    assert [c.failure is not None for c in chunks] == [True, False, False, False]
    assert chunks[0].attempts == 3 and chunks[0].mean is None and 'refusing to score CC' in chunks[0].failure.exception
    assert chunks[1].std.shape == (5,), 'an ensemble gives a standard deviation'


def test_score_smiles_task_in_process(savetoy, data):
    _, inputs, outputs = data
    scorer = savetoy.SaveableLookupScorer()
    model = _in_process(scorer, savetoy.LookupModel(), inputs, outputs)
    msg = EnsembleMessage((scorer.prepare_message(model),) * 2)
    result = score_smiles_task(scorer, msg, ['CCO', '', 'C1CC'])
    assert result.scores.shape == (2, 3) and np.isnan(result.scores[:, 1:]).all()
    assert result.rejects == [(1, 'empty SMILES'), (2, 'unclosed ring')]


def test_chunk_bounds():
    assert chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert chunk_bounds(0, 4) == []
    with pytest.raises(ValueError):
        chunk_bounds(3, 0)


EXAMPLES = Path(__file__).parents[1] / 'examples'


def test_example_parsl_configurations_load():
    from examol_core.colmena import load_parsl_config

    slurm = load_parsl_config(EXAMPLES / 'parsl_slurm.py')
    assert type(slurm.executors[0].provider).__name__ == 'SlurmProvider'
    local = load_parsl_config(EXAMPLES / 'parsl_local.py')
    assert local.executors[0].max_workers_per_node == 2


def test_bad_parsl_configuration_files(tmp_path):
    from examol_core.colmena import load_parsl_config
    from examol_core.errors import ExamolError

    with pytest.raises(ExamolError, match='does not exist'):
        load_parsl_config(tmp_path / 'none.py')
    (tmp_path / 'empty.py').write_text('x = 1\n')
    with pytest.raises(ExamolError, match='must define `config = parsl.config.Config'):
        load_parsl_config(tmp_path / 'empty.py')
    (tmp_path / 'broken.py').write_text('import nosuchmodule\n')
    with pytest.raises(ExamolError, match="raised ModuleNotFoundError: No module named 'nosuchmodule'"):
        load_parsl_config(tmp_path / 'broken.py')


def test_example_thinker_runs():
    import subprocess
    import sys

    pytest.importorskip('examol_rdkit')
    data = Path(__file__).parents[1] / 'examol_core' / 'data'
    if not (data / 'redoxmers-oxidation.jsonl.gz').is_file():
        pytest.skip('the shipped data are not there yet')
    run = subprocess.run([sys.executable, str(EXAMPLES / 'colmena_thinker.py'), '--local', '--ensemble', '2',
                          '--top', '3'], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith('Trained 2 models on') and lines[0].endswith('(0 missing)') and len(lines) == 4


def test_results_arriving_during_submission_are_kept(savetoy, data):
    """A result processor may route results before submit_* returns: the job must not look done early."""
    import threading
    import time

    from colmena.exceptions import TimeoutException

    _, inputs, outputs = data
    scorer = savetoy.SaveableLookupScorer()
    methods = make_methods(scorer)
    model = _in_process(scorer, savetoy.LookupModel(), inputs, outputs)
    seen = []  # (tasks known to the job, results) each time the router saw it done
    submitting, during, stop = threading.Event(), threading.Event(), threading.Event()
    with start_task_server(methods, local=True, workers=2) as server:
        client = ScorerClient(server.queues, scorer, methods, routed=True)
        send = server.queues.send_inputs

        def slow_send(*args, **kwargs):  # leave the workers time to answer while submission goes on
            task_id = send(*args, **kwargs)
            time.sleep(0.02)
            return task_id

        server.queues.send_inputs = slow_send

        def route():  # what a @result_processor does, on its own thread
            while not stop.is_set():
                try:
                    result = server.queues.get_result(topic='score', timeout=0.1)
                except TimeoutException:
                    continue
                job = client.add_result(result)
                if submitting.is_set():
                    during.set()
                if job.done:
                    seen.append((job.size, len(job.results)))

        router = threading.Thread(target=route, daemon=True)
        router.start()
        assert client.submit_score(model, inputs[:1]).wait(timeout=120)  # the (spawned) server is up and answering
        seen.clear()
        submitting.set()
        scoring = client.submit_score(model, inputs, chunk_size=1)
        submitting.clear()
        assert scoring.wait(timeout=60)
        stop.set()
        router.join(timeout=5)
    assert during.is_set(), 'results came back while the job was still being submitted'
    assert seen == [(18, 18)], 'the job was declared done once, with every chunk'
    np.testing.assert_array_equal(scoring.collect().mean, scorer.score(scorer.prepare_message(model), inputs))
    assert client.jobs == [], 'finished jobs are forgotten'


def test_a_client_sends_one_task_at_a_time(savetoy, data):
    """Agents and result processors of one thinker may submit at once: their writes must not interleave."""
    import threading
    import time

    _, inputs, outputs = data
    scorer = savetoy.SaveableLookupScorer()
    methods = make_methods(scorer)
    model = _in_process(scorer, savetoy.LookupModel(), inputs, outputs)
    inside, most = [0], [0]
    with start_task_server(methods, local=True, workers=2) as server:
        client = ScorerClient(server.queues, scorer, methods)
        send = server.queues.send_inputs

        def watched_send(*args, **kwargs):
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            time.sleep(0.005)
            inside[0] -= 1
            return send(*args, **kwargs)

        server.queues.send_inputs = watched_send
        jobs = []
        agents = [threading.Thread(target=lambda: jobs.append(client.submit_score(model, inputs, chunk_size=1)))
                  for _ in range(2)]
        for agent in agents:
            agent.start()
        for agent in agents:
            agent.join()
        wait_all(jobs, timeout=60)
    assert most[0] == 1 and all(job.ok for job in jobs)


def test_in_a_colmena_thinker(savetoy, data, tmp_path):
    """The pattern of the README: one agent that submits and waits, top to bottom; result processors route."""
    from colmena.thinker import BaseThinker, agent, result_processor

    _, inputs, outputs = data
    flag = tmp_path / 'fail-once'
    flag.touch()
    scorer = savetoy.SaveableLookupScorer(fail_on='CCCC', flag=str(flag), once=True, delay=0.05)
    methods = make_methods(scorer)

    class Thinker(BaseThinker):
        def __init__(self, queues, client):
            super().__init__(queues)
            self.client = client
            self.models = [savetoy.LookupModel() for _ in range(2)]
            self.scores = self.attempts = None

        @result_processor(topic='train')
        def route_training(self, result):
            self.client.add_result(result)

        @result_processor(topic='score')
        def route_scores(self, result):
            self.client.add_result(result)

        @agent
        def screen(self):
            training = self.client.submit_retrain(self.models, inputs, outputs)
            assert training.wait(timeout=30)
            self.models = training.update(self.models)
            scoring = self.client.submit_score(self.models, inputs, chunk_size=3, retries=1)
            with pytest.raises(TimeoutError, match='still running'):
                scoring.wait(timeout=0.01)
            assert scoring.wait(timeout=30)
            self.attempts = [scoring.attempts(i) for i in range(scoring.size)]
            self.scores = scoring.collect()

    with start_task_server(methods, local=True, workers=2) as server:
        client = ScorerClient(server.queues, scorer, methods, routed=True)
        thinker = Thinker(server.queues, client)
        thinker.start()
        thinker.join(timeout=60)
        assert not thinker.is_alive()
    failing = list(inputs).index('CCCC') // 3
    assert thinker.attempts == [2 if i == failing else 1 for i in range(6)], 'the chunk of CCCC was resubmitted once'
    plain = savetoy.SaveableLookupScorer()
    np.testing.assert_array_equal(thinker.scores.members, [plain.score(plain.prepare_message(m), inputs)
                                                           for m in thinker.models])
    assert client.jobs == []


def test_a_routed_client_waits_without_reading_the_queues(savetoy, data):
    """With routed=True, results belong to the result processor: wait() must not take them off the queue."""
    _, inputs, outputs = data
    scorer = savetoy.SaveableLookupScorer()
    methods = make_methods(scorer)
    with start_task_server(methods, local=True) as server:
        client = ScorerClient(server.queues, scorer, methods, routed=True)
        job = client.submit_retrain(savetoy.LookupModel(), inputs, outputs)
        with pytest.raises(TimeoutError):
            job.wait(timeout=2)
        result = server.queues.get_result(topic='train', timeout=30)  # still there for the processor
        assert client.add_result(result) is job and job.wait(timeout=1)


def test_score_smiles_job_collects_rejects_in_order(savetoy, data):
    _, inputs, outputs = data
    scorer = savetoy.SaveableLookupScorer()
    methods = make_methods(scorer)
    model = _in_process(scorer, savetoy.LookupModel(), inputs, outputs)
    smiles = [*REFERENCE_SMILES[:3], 'C1CC', *REFERENCE_SMILES[3:]]
    with start_task_server(methods, local=True) as server:
        job = ScorerClient(server.queues, scorer, methods).submit_score_smiles([model, model], smiles, chunk_size=4)
        assert job.wait(timeout=60)
        scores = job.collect()
    assert scores.rejects == [(3, 'unclosed ring')]
    keep = np.arange(len(smiles)) != 3
    np.testing.assert_array_equal(scores.mean[keep], scorer.score(scorer.prepare_message(model), inputs))
    assert np.isnan(scores.mean[3]) and scores.members.shape == (2, len(smiles))


def test_colmena_methods_we_extend_keep_their_shape():
    """config.py extends public methods of Colmena's task servers, no private one; notice if they change upstream."""
    import inspect

    from examol_core.colmena.config import OVERRIDDEN, _task_server_classes

    for cls in _task_server_classes():
        ours = [klass for klass in cls.__mro__ if klass.__module__ == 'examol_core.colmena.config']
        upstream = next(klass for klass in cls.__mro__ if klass.__module__.startswith('colmena.'))
        extended = {name for klass in ours for name, value in vars(klass).items()
                    if callable(value) and not name.startswith('__')}
        assert extended <= set(OVERRIDDEN), f'{cls.__name__} extends {sorted(extended - set(OVERRIDDEN))}'
        for name in extended:
            assert list(inspect.signature(getattr(upstream, name)).parameters) == OVERRIDDEN[name], (upstream, name)


def test_inputs_of_tasks_that_never_ran_are_evicted_when_the_job_ends(savetoy, data):
    """Like the tasks of a worker that died: their inputs were never read, and must not stay in the store."""
    _, inputs, outputs = data
    scorer = savetoy.SaveableLookupScorer(delay=0.5)
    methods = make_methods(scorer)
    model = _in_process(scorer, savetoy.LookupModel(), inputs, outputs)
    with start_task_server(methods, local=True, workers=1, proxy_threshold=50) as server:
        stored = Path(server.store.connector.store_dir)
        client = ScorerClient(server.queues, scorer, methods)
        scoring = client.submit_score(model, inputs, chunk_size=6)  # 3 chunks, scored one after the other
        assert len(list(stored.iterdir())) >= 3, 'each chunk\'s inputs wait in the store'
        scoring.close()  # abandoned with tasks that never ran
        assert not list(stored.iterdir()), 'objects of the closed job were left in the store'
