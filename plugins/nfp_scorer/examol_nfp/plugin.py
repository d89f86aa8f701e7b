"""Hook implementations registered through the ``examol`` entry point.

Kept light: loading plugins must not import TensorFlow or nfp. The scorer and the model factory
are named as ``"module:attribute"`` strings and imported only when used.
"""
from __future__ import annotations

from examol_core.plugins import ScorerSpec, hookimpl


@hookimpl
def examol_scorers() -> list[ScorerSpec]:
    """The NFP scorer and its ``mpnn`` network."""
    return [ScorerSpec(name='nfp', scorer='examol_nfp.scorer:NFPScorer',
                       models={'mpnn': 'examol_nfp.model:make_simple_network'},
                       description='Message-passing neural networks (nfp on TensorFlow/tf-keras), multi-fidelity')]
