"""Ready-made models: scikit-learn pipelines that take SMILES strings.

Each model is a plain :class:`~sklearn.pipeline.Pipeline` whose first step is a
:class:`~examol_rdkit.features.FingerprintTransformer`; the remaining steps work on features.
``model[0]`` and ``model[1:]`` split a model into featuriser and regressor, for example to
featurise on the steering side with ``RDKitScorer(pre_transform=model[0])`` and train ``model[1:]``.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.gaussian_process import GaussianProcessRegressor, kernels
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from examol_rdkit.features import FingerprintTransformer
from examol_rdkit.knn import TanimotoKNNRegressor

__all__ = ['make_knn_model', 'make_gpr_model', 'BoundedPCA']


def make_knn_model(n_neighbors: int = 2, length: int = 256, radius: int = 4, n_jobs: int | None = None) -> Pipeline:
    """K nearest neighbours on Morgan fingerprints, by Tanimoto (Jaccard) similarity.

    Args:
        n_neighbors: Number of neighbours averaged; 1 reproduces the training labels.
        length: Number of bits of the fingerprint.
        radius: Radius of the fingerprint.
        n_jobs: Processes computing fingerprints of large inputs, and BLAS threads of the
            similarity search (``None``: one; -1: every core).
    Returns:
        A pipeline taking SMILES strings: ``fingerprints`` → ``knn``.
    Raises:
        InvalidOptionError: (a ``ValueError``) naming an option that is not a valid integer.
    """
    steps = [('fingerprints', FingerprintTransformer('morgan', length=length, radius=radius, n_jobs=n_jobs)),
             ('knn', TanimotoKNNRegressor(n_neighbors=n_neighbors, n_jobs=n_jobs))]
    for _, step in steps:
        step.check_params()  # a bad option fails here, where it is given, not later on a worker
    return Pipeline(steps)


class BoundedPCA(TransformerMixin, BaseEstimator):
    """PCA keeping at most ``n_components``, fewer when the training data has fewer samples or features.

    Lets a grid over the number of components run on small training sets (early in a campaign,
    or in the folds of a cross-validation) instead of failing for the larger values.

    Args:
        n_components: Maximum number of components; ``None`` keeps all.
    """

    def __init__(self, n_components: int | None = None):
        self.n_components = n_components

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> BoundedPCA:
        X = validate_data(self, X)
        limit = min(X.shape)
        n = limit if self.n_components is None else min(self.n_components, limit)
        self.pca_ = PCA(n_components=n).fit(X)
        self.n_components_ = self.pca_.n_components_
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.pca_.transform(X)


def make_gpr_model(num_pcs: int | None = None, max_pcs: int = 10, k: int = 3) -> Pipeline:
    """Gaussian process regression on principal components of RDKit descriptors.

    The descriptors (:func:`~examol_rdkit.features.doan_2020_descriptors`, after Doan et al.
    2020) are standardised (they span several orders of magnitude), projected on their principal
    components and fed to a GPR with a Matern kernel plus white noise.

    Args:
        num_pcs: Number of principal components; ``None`` chooses it by k-fold cross-validation
            (mean squared error) among 1 to ``max_pcs``.
        max_pcs: Largest number of components tried when ``num_pcs`` is ``None``.
        k: Number of folds of the cross-validation; training then needs at least ``k`` records.
    Returns:
        A pipeline taking SMILES strings: ``descriptors`` → ``scale`` → ``pca`` → ``gpr``, or
        ``descriptors`` → ``search`` (a :class:`~sklearn.model_selection.GridSearchCV` over that
        regressor) when ``num_pcs`` is ``None``. Descriptors are computed once, outside the search.
    """
    kernel = kernels.ConstantKernel(1.0, (1e-3, 1e3)) * kernels.Matern(length_scale=1.0, nu=2.5) \
        + kernels.WhiteKernel(noise_level=1e-2, noise_level_bounds=(1e-8, 1e1))
    regressor = Pipeline([
        ('scale', StandardScaler()),
        ('pca', BoundedPCA(n_components=num_pcs)),
        ('gpr', GaussianProcessRegressor(kernel=kernel, normalize_y=True, n_restarts_optimizer=4, random_state=1)),
    ])
    descriptors = ('descriptors', FingerprintTransformer('descriptors'))
    if num_pcs is not None:
        return Pipeline([descriptors, *regressor.steps])
    search = GridSearchCV(regressor, param_grid={'pca__n_components': list(range(1, max_pcs + 1))}, cv=k,
                          scoring='neg_mean_squared_error')
    return Pipeline([descriptors, ('search', search)])
