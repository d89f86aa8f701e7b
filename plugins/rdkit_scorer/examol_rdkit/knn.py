"""Nearest-neighbour regression on bit fingerprints with Tanimoto (Jaccard) similarity.

Equivalent to ``KNeighborsRegressor(metric='jaccard')`` with uniform weights, but computes
similarities for a block of queries at once as a matrix product of 0/1 matrices (the number of
shared bits), which is exact in float32 for fingerprints of up to 2**24 bits and runs in BLAS.
Queries are processed in blocks so that memory stays bounded however many molecules are scored.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ['TanimotoKNNRegressor']

#: Elements of the (queries × training set) similarity block computed at once (float32: 16 MB).
_BLOCK_ELEMENTS = 1 << 22


class TanimotoKNNRegressor(RegressorMixin, BaseEstimator):
    """Predict the mean label of the ``n_neighbors`` training fingerprints most similar to each query.

    Similarity is Tanimoto: shared on-bits over on-bits in either fingerprint (1 when both are
    empty); the distance ``1 - similarity`` is scikit-learn's ``jaccard`` metric. Any nonzero
    feature counts as an on-bit.

    Args:
        n_neighbors: Number of neighbours averaged.
    """

    def __init__(self, n_neighbors: int = 2):
        self.n_neighbors = n_neighbors

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    def fit(self, X: np.ndarray, y: np.ndarray) -> TanimotoKNNRegressor:
        """Store the training fingerprints and labels.

        Raises:
            ValueError: fewer training points than ``n_neighbors``, or labels that are not 1-D.
        """
        if not isinstance(self.n_neighbors, (int, np.integer)) or self.n_neighbors < 1:
            raise ValueError(f'n_neighbors must be a positive integer; got {self.n_neighbors!r}')
        X, y = validate_data(self, X, y, y_numeric=True, dtype=None)
        if len(X) < self.n_neighbors:
            raise ValueError(f'Need at least n_neighbors={self.n_neighbors} training points; got {len(X)}')
        self.fingerprints_ = (X != 0).astype(np.float32)
        self.bit_counts_ = self.fingerprints_.sum(axis=1)
        self.y_ = np.asarray(y, dtype=float)
        return self

    def _similarity_blocks(self, X: np.ndarray):
        """Yield ``(start, similarity)`` for blocks of queries; similarity is ``(block, n_train)`` float32."""
        n_train = len(self.fingerprints_)
        rows = max(1, _BLOCK_ELEMENTS // max(n_train, 1))
        train_t = self.fingerprints_.T
        for start in range(0, len(X), rows):
            query = (X[start:start + rows] != 0).astype(np.float32)
            shared = query @ train_t
            union = query.sum(axis=1)[:, None] + self.bit_counts_[None, :]
            union -= shared
            # Two empty fingerprints are identical (similarity 1), as with scikit-learn's jaccard metric
            np.divide(shared, union, out=shared, where=union > 0)
            shared[union == 0] = 1.
            yield start, shared

    def _nearest(self, similarity: np.ndarray, k: int) -> np.ndarray:
        if k >= similarity.shape[1]:
            return np.argsort(-similarity, axis=1, kind='stable')
        return np.argpartition(-similarity, k - 1, axis=1)[:, :k]

    def kneighbors(self, X: np.ndarray, n_neighbors: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Jaccard distances to and indices of the nearest training points, nearest first."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=None)
        k = n_neighbors or self.n_neighbors
        distances = np.empty((len(X), k))
        indices = np.empty((len(X), k), dtype=np.intp)
        for start, similarity in self._similarity_blocks(X):
            nearest = self._nearest(similarity, k)[:, :k]
            sims = np.take_along_axis(similarity, nearest, axis=1)
            order = np.argsort(-sims, axis=1, kind='stable')
            stop = start + len(similarity)
            indices[start:stop] = np.take_along_axis(nearest, order, axis=1)
            distances[start:stop] = 1. - np.take_along_axis(sims, order, axis=1)
        return distances, indices

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Mean label of the nearest training fingerprints.

        Returns:
            ``(len(X),)`` float array.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=None)
        out = np.empty(len(X))
        for start, similarity in self._similarity_blocks(X):
            nearest = self._nearest(similarity, self.n_neighbors)
            out[start:start + len(similarity)] = self.y_[nearest[:, :self.n_neighbors]].mean(axis=1)
        return out
