"""Acquisition functions: which candidates to simulate next, given an ensemble's mean and spread."""
from __future__ import annotations

import math

import numpy as np

__all__ = ['upper_confidence_bound', 'expected_improvement', 'top_indices', 'pick']


def upper_confidence_bound(mean: np.ndarray, std: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """``mean + beta * std``: optimism in proportion to the ensemble's disagreement."""
    return np.asarray(mean) + beta * np.asarray(std)


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """Expected improvement over ``best`` for a Gaussian with this mean and standard deviation."""
    mean = np.asarray(mean, dtype=float)
    std = np.maximum(np.asarray(std, dtype=float), 1e-9)
    z = (mean - best) / std
    cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    pdf = np.exp(-0.5 * z ** 2) / math.sqrt(2 * math.pi)
    return (mean - best) * cdf + std * pdf


def top_indices(values: np.ndarray, count: int) -> list[int]:
    """Positions of the ``count`` largest values, largest first (ties: lowest position first)."""
    return [int(i) for i in np.argsort(-np.asarray(values), kind='stable')[:count]]


def pick(acquisition: str, mean: np.ndarray, std: np.ndarray, count: int, *, beta: float = 1.0,
         best: float = 0.) -> list[int]:
    """Positions of the ``count`` candidates with the highest utility (``ucb`` or ``ei``)."""
    if acquisition == 'ucb':
        return top_indices(upper_confidence_bound(mean, std, beta), count)
    if acquisition == 'ei':
        return top_indices(expected_improvement(mean, std, best), count)
    raise ValueError(f'Unknown acquisition function {acquisition!r}; use "ucb" or "ei"')
