"""Colmena Redis queues and a Redis ProxyStore: the multi-node path, run against a real Redis server.

Needs a Redis server at ``REDIS_URL`` (default ``redis://127.0.0.1:6379``); skipped without one,
unless ``EXAMOL_REQUIRE_REDIS=1`` (set by CI), which turns the skip into a failure.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from typer.testing import CliRunner

from examol_core.cli import app
from examol_core.colmena import ScorerClient, make_methods, start_task_server
from examol_core.colmena.config import redis_address
from examol_core.records import write_records
from examol_core.testing import FIDELITIES, make_reference_records

pytestmark = pytest.mark.redis

REDIS_URL = os.environ.get('REDIS_URL', 'redis://127.0.0.1:6379')


@pytest.fixture(scope='module')
def redis_url():
    import redis

    host, port = redis_address(REDIS_URL)
    try:
        redis.Redis(host=host, port=port, socket_connect_timeout=2).ping()
    except redis.exceptions.RedisError as exc:
        message = (f'No Redis server reachable at {REDIS_URL} ({exc}). Start one with '
                   '`redis-server --bind 127.0.0.1 --port 6379 --daemonize yes` or set REDIS_URL.')
        if os.environ.get('EXAMOL_REQUIRE_REDIS') == '1':
            pytest.fail(message + ' EXAMOL_REQUIRE_REDIS=1 requires this test to run.')
        pytest.skip(message)
    return REDIS_URL


def test_train_and_score_through_redis(redis_url, savetoy):
    from colmena.queue.redis import RedisQueues
    from proxystore.connectors.redis import RedisConnector
    from proxystore.store import get_store

    records = make_reference_records()
    scorer = savetoy.SaveableLookupScorer()
    inputs = scorer.transform_inputs(records)
    outputs = scorer.transform_outputs(records, FIDELITIES[-1])
    methods = make_methods(scorer)
    with start_task_server(methods, redis_url=redis_url, local=True, proxy_threshold=100) as server:
        assert isinstance(server.queues, RedisQueues)
        assert isinstance(server.store.connector, RedisConnector)
        client = ScorerClient(server.queues, scorer, methods)
        job = client.submit_retrain([savetoy.LookupModel(), savetoy.LookupModel()], inputs, outputs)
        assert job.wait(timeout=60, check_alive=server.check_alive), job.failures
        models = job.update([savetoy.LookupModel(), savetoy.LookupModel()])
        scoring = client.submit_score(models, inputs, chunk_size=5)
        [(name, key)] = scoring.shared_keys
        assert get_store(name).exists(key), 'the model message went to Redis through ProxyStore'
        assert scoring.wait(timeout=60, check_alive=server.check_alive), scoring.failures
        scores = scoring.collect()
    expected = [scorer.score(scorer.prepare_message(m), inputs) for m in models]
    np.testing.assert_array_equal(scores.members, expected)


def test_commands_with_redis(redis_url, savetoy, tmp_path):
    write_records(make_reference_records(), tmp_path / 'records.jsonl')
    (tmp_path / 'space.smi').write_text('CCO\nc1ccccc1\n')
    runner = CliRunner()
    result = runner.invoke(app, ['train', '--records', str(tmp_path / 'records.jsonl'), '--recipe',
                                 'oxidation_potential/high-adiabatic', '--scorer', 'savetoy', '--model', 'lookup',
                                 '--output', str(tmp_path / 'model.zip'), '--redis-url', redis_url, '--local'])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ['score', '--model', str(tmp_path / 'model.zip'), '--smiles',
                                 str(tmp_path / 'space.smi'), '--output', str(tmp_path / 'scores.csv'),
                                 '--redis-url', redis_url, '--local'])
    assert result.exit_code == 0, result.output
    header, *rows = (tmp_path / 'scores.csv').read_text().splitlines()
    assert header == 'line,smiles,score' and [r.rsplit(',', 1)[0] for r in rows] == ['1,CCO', '2,c1ccccc1']
    np.testing.assert_allclose([float(r.rsplit(',', 1)[1]) for r in rows], [6.22, 7.0])
