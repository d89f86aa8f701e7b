"""examol-chemprop: chemprop's directed message-passing neural networks (D-MPNN) as an examol scorer.

Importing this package, registering the plugin, building a model description and turning
records into inputs do not import PyTorch: the steering side handles configurations and NumPy
weights only, and the chemprop module is rebuilt where :meth:`ChempropScorer.retrain` and
:meth:`ChempropScorer.score` run.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = '0.1.0'

_LAZY = {
    'ChempropScorer': 'examol_chemprop.scorer',
    'ChempropMessage': 'examol_chemprop.message',
    'UntrainedModelError': 'examol_chemprop.message',
    'ChempropModel': 'examol_chemprop.model',
    'MPNNConfig': 'examol_chemprop.model',
    'make_mpnn': 'examol_chemprop.model',
    'TrainingDivergedError': 'examol_chemprop.training',
}

__all__ = ['ChempropScorer', 'ChempropMessage', 'UntrainedModelError', 'ChempropModel', 'MPNNConfig', 'make_mpnn',
           'TrainingDivergedError']

if TYPE_CHECKING:
    from examol_chemprop.message import ChempropMessage, UntrainedModelError
    from examol_chemprop.model import ChempropModel, MPNNConfig, make_mpnn
    from examol_chemprop.scorer import ChempropScorer
    from examol_chemprop.training import TrainingDivergedError


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
