"""Hook implementations registered through the ``examol`` entry point.

Kept light: loading plugins must not import PyTorch or chemprop. The scorer and the model factory
are named as ``"module:attribute"`` strings and imported only when used.
"""
from __future__ import annotations

from examol_core.plugins import ScorerSpec, hookimpl


@hookimpl
def examol_scorers() -> list[ScorerSpec]:
    """The chemprop scorer and its ``mpnn`` network."""
    return [ScorerSpec(name='chemprop', scorer='examol_chemprop.scorer:ChempropScorer',
                       models={'mpnn': 'examol_chemprop.model:make_mpnn'},
                       description='Directed message-passing neural networks (chemprop 2 on PyTorch), multi-fidelity')]
