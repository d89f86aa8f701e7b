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

from examol_core.options import check_integer
from examol_rdkit._threads import blas_threads

__all__ = ['TanimotoKNNRegressor']

#: Elements of the (queries × training set) similarity block computed at once (float32: 4 MB).
_BLOCK_ELEMENTS = 1 << 20


class TanimotoKNNRegressor(RegressorMixin, BaseEstimator):
    """Predict the mean label of the ``n_neighbors`` training fingerprints most similar to each query.

    Similarity is Tanimoto: shared on-bits over on-bits in either fingerprint (1 when both are
    empty); the distance ``1 - similarity`` is scikit-learn's ``jaccard`` metric. Any nonzero
    feature counts as an on-bit.

    Args:
        n_neighbors: Number of neighbours averaged.
        n_jobs: BLAS threads for the similarity products; ``None`` means 1, which was fastest on a
            shared 2-core machine; -1 uses every core.
    """

    def __init__(self, n_neighbors: int = 2, n_jobs: int | None = None):
        self.n_neighbors = n_neighbors
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    def check_params(self) -> None:
        """Check the options, naming the first bad one; called by fit and by the model factories.

        Raises:
            InvalidOptionError: (a ``ValueError``) ``n_neighbors`` not a positive integer, or a bad ``n_jobs``.
        """
        check_integer('n_neighbors', self.n_neighbors, 1)
        if self.n_jobs is not None:
            check_integer('n_jobs', self.n_jobs, -1)

    def fit(self, X: np.ndarray, y: np.ndarray) -> TanimotoKNNRegressor:
        """Store the training fingerprints and labels.

        Raises:
            ValueError: bad options, fewer training points than ``n_neighbors``, or labels that are not 1-D.
        """
        self.check_params()
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
        train_t = np.ascontiguousarray(self.fingerprints_.T)
        both_empty = bool((self.bit_counts_ == 0).any())
        for start in range(0, len(X), rows):
            query = (X[start:start + rows] != 0).astype(np.float32)
            shared = query @ train_t
            query_counts = query.sum(axis=1)
            union = query_counts[:, None] + self.bit_counts_[None, :]
            union -= shared
            if both_empty and (query_counts == 0).any():
                # Two empty fingerprints are identical (similarity 1), as with scikit-learn's jaccard metric
                empty = union == 0
                shared[empty] = union[empty] = 1.
            np.divide(shared, union, out=shared)
            yield start, shared

    def _nearest(self, similarity: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and similarities of the ``k`` most similar training points, most similar first.

        Among equally similar training points, the first in training order comes first.
        Overwrites ``similarity``.
        """
        k = min(k, similarity.shape[1])
        rows = np.arange(len(similarity))
        if k > 16:  # many neighbours: a partial sort beats repeated scans
            order = np.argsort(-similarity, axis=1, kind='stable')[:, :k]
            return order, np.take_along_axis(similarity, order, axis=1)
        indices = np.empty((len(similarity), k), dtype=np.intp)
        values = np.empty((len(similarity), k), dtype=similarity.dtype)
        for j in range(k):  # k scans for the maximum are much faster than argpartition for small k
            best = similarity.argmax(axis=1)
            indices[:, j] = best
            values[:, j] = similarity[rows, best]
            similarity[rows, best] = -1.
        return indices, values

    def kneighbors(self, X: np.ndarray, n_neighbors: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Jaccard distances to and indices of the nearest training points, nearest first."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=None)
        k = min(n_neighbors or self.n_neighbors, len(self.fingerprints_))
        distances = np.empty((len(X), k))
        indices = np.empty((len(X), k), dtype=np.intp)
        with blas_threads(self.n_jobs):
            for start, similarity in self._similarity_blocks(X):
                nearest, values = self._nearest(similarity, k)
                indices[start:start + len(similarity)] = nearest
                distances[start:start + len(similarity)] = 1. - values
        return distances, indices

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Mean label of the nearest training fingerprints.

        Returns:
            ``(len(X),)`` float array.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=None)
        out = np.empty(len(X))
        with blas_threads(self.n_jobs):
            for start, similarity in self._similarity_blocks(X):
                nearest, _ = self._nearest(similarity, self.n_neighbors)
                out[start:start + len(similarity)] = self.y_[nearest].mean(axis=1)
        return out
