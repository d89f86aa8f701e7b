"""Registration through the ``examol`` entry points."""
from __future__ import annotations

import subprocess
import sys

from examol_rdkit import RDKitScorer, TanimotoKNNRegressor

from examol_core.plugins import available_scorers, load_scorer, make_model


def test_registered_as_rdkit():
    spec = available_scorers()['rdkit']
    assert set(spec.models) == {'knn', 'gpr'}
    assert spec.distribution == 'examol-rdkit' and spec.description
    assert spec.load_class() is RDKitScorer
    assert isinstance(load_scorer('rdkit'), RDKitScorer)
    model = make_model('rdkit', 'knn', n_neighbors=1)
    assert isinstance(model[-1], TanimotoKNNRegressor) and model[-1].n_neighbors == 1
    assert make_model('rdkit', 'gpr', num_pcs=2).named_steps['pca'].n_components == 2


def test_registration_is_light():
    """Listing plugins must not import scikit-learn."""
    code = ('import sys; import examol_rdkit.plugin as p; specs = p.examol_scorers(); '
            'sys.exit(specs[0].name != "rdkit" or "sklearn" in sys.modules)')
    subprocess.run([sys.executable, '-c', code], check=True)
