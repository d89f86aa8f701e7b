"""Run recipes to completion for one record: suggest → simulate → apply, until the property exists.

The loop is generic and lives in the core (:func:`examol_core.simulator.run_recipes`);
``compute_recipes`` is the same function under the name this plugin first shipped it.
"""
from __future__ import annotations

from examol_core.simulator import RecipeOutcome, recipe_key, run_recipes

compute_recipes = run_recipes
"""Alias of :func:`examol_core.simulator.run_recipes`."""

__all__ = ['compute_recipes', 'RecipeOutcome', 'recipe_key']
