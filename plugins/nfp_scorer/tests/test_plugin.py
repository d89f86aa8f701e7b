"""Registration through the ``examol`` entry point, and the TensorFlow/Keras set-up."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from examol_core.plugins import available_scorers, load_scorer, make_model, plugin_errors


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != 'TF_USE_LEGACY_KERAS'}
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True, text=True,
                          env={**environ, 'TF_CPP_MIN_LOG_LEVEL': '2', **env}, timeout=300)


def test_registered():
    spec = available_scorers()['nfp']
    assert spec.distribution == 'examol-nfp'
    assert set(spec.models) == {'mpnn'}
    assert not [e for e in plugin_errors() if e.entry_point == 'nfp']


def test_load_by_name():
    from examol_nfp import NFPScorer
    from examol_nfp.model import output_count

    scorer = load_scorer('nfp', retrain_from_scratch=False)
    assert isinstance(scorer, NFPScorer) and not scorer.retrain_from_scratch
    model = make_model('nfp', 'mpnn', atom_features=8, message_steps=1, output_layers=(4,), outputs=2)
    assert output_count(model) == 2


def test_registration_and_inputs_do_not_import_tensorflow():
    result = _run('''
        import sys
        from examol_core.plugins import available_scorers
        spec = available_scorers()['nfp']
        scorer = spec.load_class()()
        scorer.transform_inputs(['CCO'])
        import os
        assert os.environ['TF_USE_LEGACY_KERAS'] == '1'
        assert 'tensorflow' not in sys.modules, 'TensorFlow imported'
    ''')
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_keras_3_is_reported_clearly():
    """TensorFlow imported first and tf.keras resolved to Keras 3: a warning, then a clear error."""
    result = _run('''
        import warnings
        import tensorflow as tf
        tf.keras.layers  # resolves Keras 3
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            import examol_nfp
        assert any('Keras 3' in str(w.message) for w in caught), [str(w.message) for w in caught]
        try:
            import examol_nfp.model
        except examol_nfp.KerasVersionError as exc:
            assert 'tf-keras' in str(exc) and 'TF_USE_LEGACY_KERAS' in str(exc)
            print('raised')
    ''')
    assert result.returncode == 0, result.stderr
    assert 'raised' in result.stdout
