"""Saved models: JSON + safetensors inside the project's model file, read as hostile input."""
from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
from examol_chemprop import ChempropScorer
from examol_chemprop.persistence import ARCHITECTURE_FILE, FORMAT_FILE, WEIGHTS_FILE

from examol_core.errors import IncompatibleVersionError
from examol_core.modelfile import load_model_file, save_model_file


@pytest.fixture(scope='module')
def saved(tmp_path_factory, tiny, smiles, labels, fast):
    scorer = ChempropScorer()
    inputs = scorer.transform_inputs(list(smiles))
    model = tiny(outputs=2, batch_norm=True)
    lower = labels[:, None] - 1.
    model = scorer.update(model, scorer.retrain(scorer.prepare_message(model, training=True), inputs, labels,
                                                lower_fidelities=lower, **fast))
    directory = tmp_path_factory.mktemp('member')
    scorer.save_model(model, directory)
    return scorer, model, directory, inputs, lower


def test_round_trip(saved, tmp_path):
    scorer, model, directory, inputs, lower = saved
    assert sorted(p.name for p in directory.iterdir()) == sorted([ARCHITECTURE_FILE, WEIGHTS_FILE, FORMAT_FILE])
    loaded = scorer.load_model(directory)
    assert loaded.config == model.config
    for name, value in model.weights.items():
        np.testing.assert_array_equal(loaded.weights[name], value)
    expected = scorer.score(scorer.prepare_message(model), inputs, lower_fidelities=lower)
    np.testing.assert_array_equal(scorer.score(scorer.prepare_message(loaded), inputs, lower_fidelities=lower), expected)
    with pytest.raises(ValueError, match='untrained'):
        scorer.save_model(type(model)(model.config), tmp_path)


def test_in_the_model_file(saved, tmp_path):
    scorer, model, _, inputs, lower = saved
    save_model_file(tmp_path / 'model.zip', model, scorer_name='chemprop', model_name='mpnn',
                    model_options=model.config.model_dump())
    file = load_model_file(tmp_path / 'model.zip')
    assert isinstance(file.scorer, ChempropScorer) and file.manifest.plugin.distribution == 'examol-chemprop'
    np.testing.assert_array_equal(file.scorer.score(file.scorer.prepare_message(file.model), inputs,
                                                    lower_fidelities=lower),
                                  scorer.score(scorer.prepare_message(model), inputs, lower_fidelities=lower))


class _Boom:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def _damaged(saved, tmp_path, name: str, content: bytes | None = None):
    _, _, directory, _, _ = saved
    target = tmp_path / 'member'
    shutil.copytree(directory, target)
    if content is None:
        (target / name).unlink()
    else:
        (target / name).write_bytes(content)
    return target


@pytest.mark.parametrize(('name', 'content', 'match'), [
    (WEIGHTS_FILE, None, 'missing'),
    (WEIGHTS_FILE, pickle.dumps({'w': _Boom()}), 'safetensors'),
    (WEIGHTS_FILE, b'\0' * 10_000_000, 'more than'),
    (ARCHITECTURE_FILE, b'{"hidden_size": 1000000}', 'configuration'),
    (ARCHITECTURE_FILE, json.dumps({'hidden_size': 17, 'outputs': 2, 'batch_norm': True, 'depth': 2,
                                    'ffn_hidden_size': 16}).encode(), 'shape'),
    (FORMAT_FILE, b'{"format": 99}', 'format 99'),
    (FORMAT_FILE, b'[not json', 'JSON'),
], ids=['missing', 'pickle', 'oversized', 'huge-architecture', 'other-architecture', 'newer-format', 'bad-json'])
def test_hostile_files_are_refused(saved, tmp_path, monkeypatch, name, content, match):
    monkeypatch.chdir(tmp_path)
    target = _damaged(saved, tmp_path, name, content)
    with pytest.raises(IncompatibleVersionError, match=match):
        saved[0].load_model(target)
    assert not (tmp_path / 'PWNED').exists()


def test_symlinked_weights_are_refused(saved, tmp_path):
    _, _, directory, _, _ = saved
    target = tmp_path / 'member'
    shutil.copytree(directory, target)
    (target / WEIGHTS_FILE).unlink()
    (target / WEIGHTS_FILE).symlink_to(directory / WEIGHTS_FILE)
    with pytest.raises(IncompatibleVersionError, match='regular file'):
        saved[0].load_model(target)
