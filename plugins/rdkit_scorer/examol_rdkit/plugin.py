"""Registration with examol: the module named by the ``examol`` entry point.

Kept light on purpose: it names the scorer and models by ``"module:attribute"`` strings, so
listing plugins (``examol plugins``) imports neither scikit-learn nor RDKit's descriptors.
"""
from __future__ import annotations

from examol_core.plugins import ScorerSpec, hookimpl


@hookimpl
def examol_scorers() -> list[ScorerSpec]:
    """The ``rdkit`` scorer and its ``knn`` and ``gpr`` models."""
    return [ScorerSpec(
        name='rdkit',
        scorer='examol_rdkit.scorer:RDKitScorer',
        models={'knn': 'examol_rdkit.models:make_knn_model', 'gpr': 'examol_rdkit.models:make_gpr_model'},
        description='scikit-learn on RDKit features: KNN on Morgan fingerprints (Tanimoto), GPR on descriptors',
    )]
