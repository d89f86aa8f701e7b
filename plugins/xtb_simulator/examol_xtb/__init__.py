"""examol-xtb: a simulator plugin running GFN1-xTB and GFN2-xTB with tblite.

``XTBSimulator`` computes what recipes ask for; ``compute_recipes`` runs recipes to completion
for one record. tblite and ASE are imported only when a simulation runs.
"""
from __future__ import annotations

from examol_xtb.compute import RecipeOutcome, compute_recipes, recipe_key
from examol_xtb.simulator import METHODS, XTBSimulator, multiplicity, set_thread_count

__all__ = ['XTBSimulator', 'METHODS', 'multiplicity', 'set_thread_count', 'compute_recipes', 'RecipeOutcome',
           'recipe_key']
