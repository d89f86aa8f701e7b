"""examol scorers built from RDKit features and scikit-learn models.

``from examol_rdkit import RDKitScorer, make_knn_model`` imports what it names on first use,
so that loading the plugin registration (:mod:`examol_rdkit.plugin`) stays cheap.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = '0.1.0'

#: Fully qualified names of the types in this plugin's models that a skops loader must trust
#: (``skops.io.load(path, trusted=TRUSTED_TYPES)``): this package's classes, then the scikit-learn
#: types of the GPR models that skops does not trust by default (kernels, and what a fitted
#: GridSearchCV keeps). The tests check that nothing else is needed.
TRUSTED_TYPES: tuple[str, ...] = (
    'examol_rdkit.features.FingerprintTransformer',
    'examol_rdkit.knn.TanimotoKNNRegressor',
    'examol_rdkit.models.BoundedPCA',
    'examol_rdkit.models.TermwiseGPR',
    'sklearn.gaussian_process.kernels.ConstantKernel',
    'sklearn.gaussian_process.kernels.DotProduct',
    'sklearn.gaussian_process.kernels.Matern',
    'sklearn.gaussian_process.kernels.Product',
    'sklearn.gaussian_process.kernels.Sum',
    'sklearn.gaussian_process.kernels.WhiteKernel',
    'sklearn.metrics._regression.mean_squared_error',
    'sklearn.metrics._scorer._Scorer',
    'sklearn.model_selection._split.KFold',
)

_EXPORTS = {
    'RDKitScorer': 'examol_rdkit.scorer',
    'FingerprintTransformer': 'examol_rdkit.features',
    'morgan_fingerprints': 'examol_rdkit.features',
    'doan_2020_descriptors': 'examol_rdkit.features',
    'parse_smiles': 'examol_rdkit.features',
    'DESCRIPTOR_NAMES': 'examol_rdkit.features',
    'TanimotoKNNRegressor': 'examol_rdkit.knn',
    'BoundedPCA': 'examol_rdkit.models',
    'make_knn_model': 'examol_rdkit.models',
    'make_gpr_model': 'examol_rdkit.models',
}

__all__ = ['RDKitScorer', 'FingerprintTransformer', 'TanimotoKNNRegressor', 'BoundedPCA', 'make_knn_model',
           'make_gpr_model', 'morgan_fingerprints', 'doan_2020_descriptors', 'parse_smiles', 'DESCRIPTOR_NAMES',
           'TRUSTED_TYPES', '__version__']

if TYPE_CHECKING:
    from examol_rdkit.features import (
        DESCRIPTOR_NAMES,
        FingerprintTransformer,
        doan_2020_descriptors,
        morgan_fingerprints,
        parse_smiles,
    )
    from examol_rdkit.knn import TanimotoKNNRegressor
    from examol_rdkit.models import BoundedPCA, make_gpr_model, make_knn_model
    from examol_rdkit.scorer import RDKitScorer


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__() -> list[str]:
    return sorted(__all__)
