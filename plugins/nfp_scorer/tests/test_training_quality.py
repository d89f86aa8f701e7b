"""Short retrains learn, retrains reuse compiled steps, and TensorFlow imports quietly. No timing."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources

import numpy as np
import pytest


@pytest.fixture(scope='module')
def logp_graphs():
    """500 molecules of the search space shipped with the core, as graphs, with RDKit's MolLogP."""
    from examol_nfp.data import to_graphs
    from rdkit import Chem
    from rdkit.Chem import Crippen

    text = (resources.files('examol_core') / 'data' / 'search-space.smi').read_text()
    smiles = [line.split()[0] for line in text.splitlines() if line.strip()][:500]
    return to_graphs(smiles), np.array([Crippen.MolLogP(Chem.MolFromSmiles(s)) for s in smiles])


def test_two_epochs_beat_the_mean(logp_graphs):
    """A short retrain (as in an active-learning round) must learn, not predict the labels' mean.

    Batches of molecules of similar size (the old batching) left the network at R² 0.04 here
    after two epochs (0.36 with random batches): MolLogP, like most properties, correlates with size.
    """
    import tensorflow as tf
    from examol_nfp import NFPScorer
    from examol_nfp.model import make_simple_network

    graphs, y = logp_graphs
    train, test = slice(0, 400), slice(400, None)
    scorer = NFPScorer()
    tf.keras.utils.set_random_seed(0)
    model = make_simple_network(atom_features=32, message_steps=2, output_layers=(64,))
    update = scorer.retrain(scorer.prepare_message(model, training=True), graphs[train], y[train], num_epochs=2,
                            batch_size=16)
    predicted = scorer.score(scorer.prepare_message(scorer.update(model, update)), graphs[test])
    r2 = 1 - np.mean((predicted - y[test]) ** 2) / np.var(y[test])
    assert r2 > 0.2, f'R² {r2:.2f} on held-out molecules after two epochs'


def test_retrains_reuse_compiled_steps(logp_graphs, tiny):
    import tensorflow as tf
    from examol_nfp import NFPScorer
    from examol_nfp import steps as steps_module

    graphs, y = logp_graphs
    scorer = NFPScorer()
    config = tiny(outputs=1, atom_features=4).to_json()  # an architecture no other test trains
    results = []
    for _ in range(3):
        tf.keras.utils.set_random_seed(3)
        results.append(scorer.retrain(config, graphs[:40], y[:40], num_epochs=2, batch_size=8))
    [pool] = [pool for key, pool in steps_module._idle.items() if key[0] == steps_module._architecture_key(config, 1, False)[0]]
    assert len(pool) == 1 and pool[0].train_step.experimental_get_tracing_count() == 1
    # Reused steps start from the new weights with a fresh optimiser: same seed, same result
    for weights, history in results[1:]:
        np.testing.assert_allclose(history['loss'], results[0][1]['loss'], rtol=1e-5)
        for a, b in zip(weights, results[0][0]):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('asked', [False, True], ids=['quiet', 'asked'])
def test_tensorflow_start_up_lines_only_when_asked(asked):
    env = {k: v for k, v in os.environ.items() if k not in ('TF_CPP_MIN_LOG_LEVEL', 'EXAMOL_NFP_TF_LOGS')}
    if asked:
        env['EXAMOL_NFP_TF_LOGS'] = '1'
    code = 'import examol_nfp\nfrom examol_nfp.model import make_simple_network\nmake_simple_network(4, 1)'
    result = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    if asked:  # what TensorFlow prints depends on the machine; on this kind of CPU build it always says something
        assert result.stderr.strip()
    else:
        assert result.stderr == ''
