"""examol-nfp: message-passing neural networks (`nfp <https://github.com/NREL/nfp>`_) as an examol scorer.

nfp 0.3 is written for ``tf.keras`` as Keras 2. TensorFlow ≥ 2.16 gives Keras 3 unless the
``tf-keras`` package is installed *and* ``TF_USE_LEGACY_KERAS=1`` is set before TensorFlow first
resolves ``tf.keras``. Importing this package sets that variable (unless the user set it), so
import ``examol_nfp`` before TensorFlow. If TensorFlow already runs Keras 3, the modules that
need it raise :class:`KerasVersionError` explaining what to do.

Importing this package does not import TensorFlow, nor does registering the plugin, importing
:class:`NFPScorer` or turning records into graphs: TensorFlow is imported when a network is
built, trained or run, and quietly: TensorFlow's start-up lines (oneDNN, CUDA drivers not found,
CPU instructions) are kept out of the console unless ``EXAMOL_NFP_TF_LOGS=1`` is set (see
:func:`import_tensorflow`).
"""
from __future__ import annotations

import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

from examol_core.errors import ExamolError

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

TF_LOGS_VARIABLE = 'EXAMOL_NFP_TF_LOGS'
"""Set this environment variable to 1 to see TensorFlow's own start-up and C++ log lines."""


def import_tensorflow() -> Any:
    """Import TensorFlow without its start-up lines on the console, unless ``EXAMOL_NFP_TF_LOGS=1``.

    TensorFlow prints some lines from C++ while it loads, before its log level applies, so they
    cannot be filtered: standard error is pointed at ``/dev/null`` during the import only. Later C++
    log lines (such as "failed call to cuInit" on a machine without GPU) follow
    ``TF_CPP_MIN_LOG_LEVEL``, set here to 3 unless the user set it. Python errors and warnings are
    not affected.

    Returns:
        The ``tensorflow`` module.
    """
    if 'tensorflow' in sys.modules or os.environ.get(TF_LOGS_VARIABLE) == '1':
        import tensorflow

        return tensorflow
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import tensorflow
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
    return tensorflow

__version__ = '0.1.0'


class KerasVersionError(ExamolError, ImportError):
    """TensorFlow runs Keras 3, which nfp's layers do not support."""


def _keras_problem() -> str | None:
    """Why ``tf.keras`` is not usable by nfp, or ``None`` when it is Keras 2 (tf-keras)."""
    tf = import_tensorflow()

    try:
        if tf.keras.layers.Layer.__module__.startswith('tf_keras.'):
            return None
    except ImportError as exc:  # TF_USE_LEGACY_KERAS=1 without the tf-keras package
        return f'tf.keras could not be loaded ({exc}); install "tf-keras" matching TensorFlow {tf.__version__}.'
    version = tf.keras.version() if hasattr(tf.keras, 'version') else '?'
    return (f'tf.keras is Keras {version}, but nfp needs Keras 2 (the tf-keras package). Install '
            '"tf-keras" matching your TensorFlow version and set TF_USE_LEGACY_KERAS=1 before TensorFlow is '
            'imported (importing examol_nfp first does this for you). TF_USE_LEGACY_KERAS is currently '
            f'{os.environ.get("TF_USE_LEGACY_KERAS")!r}.')


def require_legacy_keras() -> None:
    """Make sure ``tf.keras`` is Keras 2; called by every module that builds or runs a network.

    Raises:
        KerasVersionError: TensorFlow resolved ``tf.keras`` to Keras 3 (it was imported before this
            package with ``TF_USE_LEGACY_KERAS`` unset, or the variable was set to ``0``, or
            ``tf-keras`` is missing).
    """
    problem = _keras_problem()
    if problem is not None:
        raise KerasVersionError(problem)


if 'tensorflow' in sys.modules and os.environ.get('TF_USE_LEGACY_KERAS') == '1':
    # TensorFlow was imported first: fine only if it has not yet resolved tf.keras to Keras 3
    try:
        _problem = _keras_problem()
    except Exception:  # pragma: no cover - a broken TensorFlow install is reported when used
        _problem = None
    if _problem is not None:
        warnings.warn(f'examol_nfp was imported after TensorFlow had loaded Keras 3: {_problem}', stacklevel=2)

_LAZY = {
    'NFPScorer': 'examol_nfp.scorer',
    'NFPMessage': 'examol_nfp.message',
    'make_simple_network': 'examol_nfp.model',
    'custom_objects': 'examol_nfp.model',
    'smiles_to_graph': 'examol_nfp.data',
    'PackedGraphs': 'examol_nfp.data',
    'UnsupportedMoleculeError': 'examol_nfp.data',
    'InvalidGraphError': 'examol_nfp.data',
    'TrainingDivergedError': 'examol_nfp.training',
}

__all__ = ['NFPScorer', 'NFPMessage', 'make_simple_network', 'custom_objects', 'smiles_to_graph', 'PackedGraphs',
           'UnsupportedMoleculeError', 'InvalidGraphError', 'TrainingDivergedError', 'KerasVersionError',
           'require_legacy_keras', 'import_tensorflow', 'TF_LOGS_VARIABLE']

if TYPE_CHECKING:
    from examol_nfp.data import InvalidGraphError, PackedGraphs, UnsupportedMoleculeError, smiles_to_graph
    from examol_nfp.message import NFPMessage
    from examol_nfp.model import custom_objects, make_simple_network
    from examol_nfp.scorer import NFPScorer
    from examol_nfp.training import TrainingDivergedError


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
