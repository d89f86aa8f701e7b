"""Ready-made models: scikit-learn pipelines that take SMILES strings.

Each model is a plain :class:`~sklearn.pipeline.Pipeline` whose first step is a
:class:`~examol_rdkit.features.FingerprintTransformer`; the remaining steps work on features.
``model[0]`` and ``model[1:]`` split a model into featuriser and regressor, for example to
featurise on the steering side with ``RDKitScorer(pre_transform=model[0])`` and train ``model[1:]``.
"""
from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor, kernels
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, validate_data

from examol_rdkit.features import FingerprintTransformer
from examol_rdkit.knn import TanimotoKNNRegressor

__all__ = ['make_knn_model', 'make_gpr_model', 'gpr_kernel', 'BoundedPCA', 'TermwiseGPR', 'COMPONENT_GRID',
           'MATERN_AMPLITUDE']


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
        unit_scale: Divide every component by the standard deviation of the first one in the
            training data: distances keep their proportions (the leading components still
            dominate, as without scaling) but are in units of order one, so that kernel length
            scales have the same meaning whatever the units of the features.
    """

    def __init__(self, n_components: int | None = None, unit_scale: bool = False):
        self.n_components = n_components
        self.unit_scale = unit_scale

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> BoundedPCA:
        X = validate_data(self, X)
        limit = min(X.shape)
        n = limit if self.n_components is None else min(self.n_components, limit)
        self.pca_ = PCA(n_components=n).fit(X)
        self.n_components_ = self.pca_.n_components_
        spread = float(np.sqrt(self.pca_.explained_variance_[0])) if self.unit_scale and n else 1.
        self.scale_ = spread if spread > 0 and np.isfinite(spread) else 1.
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.pca_.transform(X) / getattr(self, 'scale_', 1.)


#: Numbers of principal components tried by the cross-validation of :func:`make_gpr_model`.
COMPONENT_GRID = (1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 25, 30)


def gpr_kernel() -> kernels.Kernel:
    """Kernel of :func:`make_gpr_model`: linear trend + Matern 5/2 + white noise.

    Inputs are unit-scaled components and labels are normalised, so the bounds are in units of
    order one. The linear term carries the trend; the Matern term models what is left. Each term
    may switch off at its lower bound (:class:`TermwiseGPR`). The Matern amplitude
    (:data:`MATERN_AMPLITUDE`) is capped at 100 (10²): without the cap the likelihood prefers a
    Matern term that imitates the trend with a huge amplitude and length scale (190² and 28 on
    MolLogP from 1,000 molecules), which predicts worse (held-out MAE 0.19 instead of 0.14; a cap
    of 1,000 gave 0.18). The cap is a prior, not a limit of the search: fits on several hundred
    molecules end there as intended (MolLogP from 1,000, the redox set from 800).
    """
    return (kernels.ConstantKernel(1.0, (1e-2, 1e4)) * kernels.DotProduct(sigma_0=0., sigma_0_bounds='fixed')
            + kernels.ConstantKernel(1.0, (1e-5, 1e2)) * kernels.Matern(length_scale=1.0, length_scale_bounds=(1e-1, 1e3),
                                                                        nu=2.5)
            + kernels.WhiteKernel(noise_level=1e-2, noise_level_bounds=(1e-6, 1e1)))


#: Name of the Matern amplitude in :func:`gpr_kernel`, whose upper bound is a deliberate cap.
MATERN_AMPLITUDE = 'k1__k2__k1__constant_value'

#: scikit-learn's notice that a hyperparameter ended at one of its bounds.
_AT_BOUND = re.compile(r'The optimal value found for dimension \d+ of parameter (?P<name>\S+) is close to the specified '
                       r'(?P<side>lower|upper) bound')


class TermwiseGPR(GaussianProcessRegressor):
    """scikit-learn's Gaussian process regressor, for kernels whose terms switch off at their lower bounds.

    With :func:`gpr_kernel`, a hyperparameter at its lower bound is a result, not a failed fit:
    the term is not needed (an amplitude), the labels are noise-free (the noise level) or the
    Matern term models noise (its length scale). That happens in the cross-validation of
    :func:`make_gpr_model` whenever a candidate number of components cannot use a term, and
    scikit-learn's advice for it, to lower the bound, cannot help. The same holds for an upper
    bound that is a deliberate cap (``capped``, such as :data:`MATERN_AMPLITUDE`): raising it is
    the advice, and it was measured to predict worse. Only those notices are left out, and those of
    optimiser runs whose result is not kept; every other warning of the fit (any other upper bound
    reached, the kept run failing) is passed on.

    Args:
        capped: Names of the kernel hyperparameters (as in ``kernel.get_params()``) whose upper
            bound is a cap chosen on purpose; the other arguments are scikit-learn's.
    """

    capped: tuple[str, ...] = ()  # for models saved before the argument existed: they load without it

    def __init__(self, kernel: kernels.Kernel | None = None, *, capped: tuple[str, ...] = (), alpha: float = 1e-10,
                 optimizer: Any = 'fmin_l_bfgs_b', n_restarts_optimizer: int = 0, normalize_y: bool = False,
                 copy_X_train: bool = True, n_targets: int | None = None, random_state: Any = None):
        super().__init__(kernel=kernel, alpha=alpha, optimizer=optimizer, n_restarts_optimizer=n_restarts_optimizer,
                         normalize_y=normalize_y, copy_X_train=copy_X_train, n_targets=n_targets,
                         random_state=random_state)
        self.capped = capped

    def _check_capped(self) -> None:
        """A clear error for ``capped`` values that could never match: a bare string, or names the kernel lacks."""
        if isinstance(self.capped, str) or not all(isinstance(name, str) for name in self.capped):
            raise TypeError(f'capped must be a tuple of hyperparameter names, not {self.capped!r}')
        if self.kernel is not None:
            names = [hyperparameter.name for hyperparameter in self.kernel.hyperparameters]
            unknown = sorted(set(self.capped) - set(names))
            if unknown:
                raise ValueError(f'capped names {unknown}, which the kernel does not have; its hyperparameters are '
                                 f'{names}')

    def _expected(self, message: str) -> bool:
        """Whether a convergence notice reports a result rather than a failure."""
        match = _AT_BOUND.match(message)
        return match is not None and (match['side'] == 'lower' or match['name'] in tuple(self.capped))

    def _constrained_optimization(self, obj_func: Any, initial_theta: np.ndarray, bounds: np.ndarray):
        """One run of the optimiser; what it warns is kept with its result (see :meth:`fit`)."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            theta, value = super()._constrained_optimization(obj_func, initial_theta, bounds)
        self._runs.append((value, caught))
        return theta, value

    def fit(self, X: np.ndarray, y: np.ndarray) -> TermwiseGPR:
        """Fit as scikit-learn does, passing on only the warnings that concern the result.

        A restart of the optimiser that stops early (L-BFGS-B's line search failing) warns only if
        its hyperparameters are the ones kept: another run reached a better likelihood otherwise.
        """
        self._check_capped()
        self._runs: list[tuple[float, list]] = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always')
                super().fit(X, y)
            kept = min(self._runs, key=lambda run: run[0])[1] if self._runs else []
        finally:
            del self._runs  # not part of the fitted model
        for warning in [*kept, *caught]:
            if not (issubclass(warning.category, ConvergenceWarning) and self._expected(str(warning.message))):
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        return self


def make_gpr_model(num_pcs: int | None = None, max_pcs: int = 30, k: int = 3, n_restarts: int = 1,
                   n_jobs: int | None = -1) -> Pipeline:
    """Gaussian process regression on principal components of RDKit descriptors.

    The descriptors (:func:`~examol_rdkit.features.doan_2020_descriptors`, after Doan et al.
    2020) are projected on their principal components *without* standardising them first (as
    ExaMol does: standardising gave the hundred near-constant fragment counts as much weight as
    the informative descriptors, and cost accuracy: MAE 0.55 instead of 0.41 on MolLogP from 300
    molecules), scaled to units of order one (:class:`BoundedPCA` ``unit_scale``) and fed to a GPR
    with :func:`gpr_kernel` and normalised labels.

    Args:
        num_pcs: Number of principal components; ``None`` chooses it by k-fold cross-validation
            (mean squared error) among :data:`COMPONENT_GRID` up to ``max_pcs``.
        max_pcs: Largest number of components tried when ``num_pcs`` is ``None``.
        k: Number of folds of the cross-validation; training then needs at least ``k`` records.
        n_restarts: Extra starts of the kernel optimiser from random hyperparameters.
        n_jobs: Processes computing descriptors of inputs of more than 512 molecules (-1: every
            core; ``None`` or 1: this process only). Descriptors are most of the cost of scoring
            (about 1.5 ms of CPU per molecule), so by default they use every core, unlike the fingerprints
            of :func:`make_knn_model`, which cost too little for extra processes to pay off.
    Returns:
        A pipeline taking SMILES strings: ``descriptors`` → ``pca`` → ``gpr``, or
        ``descriptors`` → ``search`` (a :class:`~sklearn.model_selection.GridSearchCV` over that
        regressor) when ``num_pcs`` is ``None``. Descriptors are computed once, outside the search.
    """
    regressor = Pipeline([
        ('pca', BoundedPCA(n_components=num_pcs, unit_scale=True)),
        ('gpr', TermwiseGPR(kernel=gpr_kernel(), capped=(MATERN_AMPLITUDE,), normalize_y=True,
                            n_restarts_optimizer=n_restarts, random_state=1)),
    ])
    descriptors = ('descriptors', FingerprintTransformer('descriptors', n_jobs=n_jobs))
    if num_pcs is not None:
        return Pipeline([descriptors, *regressor.steps])
    grid = sorted({n for n in COMPONENT_GRID if n <= max_pcs} | {max(1, max_pcs)})
    search = GridSearchCV(regressor, param_grid={'pca__n_components': grid}, cv=k, scoring='neg_mean_squared_error')
    return Pipeline([descriptors, ('search', search)])
