"""Registration through the ``examol`` entry point; the steering side never imports PyTorch."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from examol_core.plugins import available_scorers, load_scorer, make_model, plugin_errors


def test_registered():
    spec = available_scorers()['chemprop']
    assert spec.distribution == 'examol-chemprop'
    assert set(spec.models) == {'mpnn'}
    assert not [e for e in plugin_errors() if e.entry_point == 'chemprop']


def test_load_by_name():
    from examol_chemprop import ChempropModel, ChempropScorer

    scorer = load_scorer('chemprop', retrain_from_scratch=False)
    assert isinstance(scorer, ChempropScorer) and not scorer.retrain_from_scratch
    model = make_model('chemprop', 'mpnn', hidden_size=8, depth=2, outputs=2)
    assert isinstance(model, ChempropModel) and model.config.outputs == 2


def test_steering_side_does_not_import_torch(tmp_path):
    """Registration, inputs, messages, update and saving need no PyTorch (nor chemprop, nor Lightning)."""
    code = textwrap.dedent(f'''
        import pickle, sys
        import numpy as np
        from examol_core.plugins import available_scorers, make_model
        scorer = available_scorers()['chemprop'].load_class()()
        inputs = scorer.transform_inputs(['CCO', 'c1ccccc1'])
        model = make_model('chemprop', 'mpnn', hidden_size=8, ffn_hidden_size=8)
        pickle.dumps(scorer.prepare_message(model, training=True))
        from examol_chemprop.model import expected_shapes
        weights = {{k: np.zeros(s, np.float32) for k, s in expected_shapes(model.config).items()}}
        model = scorer.update(model, (weights, {{}}))
        pickle.dumps(scorer.prepare_message(model))
        scorer.save_model(model, {str(tmp_path)!r})
        scorer.load_model({str(tmp_path)!r})
        heavy = [m for m in ('torch', 'chemprop', 'lightning') if m in sys.modules]
        assert not heavy, heavy
    ''')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
