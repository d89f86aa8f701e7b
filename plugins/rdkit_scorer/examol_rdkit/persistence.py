"""Saved models of the RDKit scorer: skops files, which load without running code from the file.

Used by :meth:`RDKitScorer.save_model` / :meth:`RDKitScorer.load_model` (steering side), which
examol's model files (:mod:`examol_core.modelfile`) call for each ensemble member. A model
directory holds:

* ``model.skops``: the pipeline, or the list of one pipeline per level of fidelity, in skops
  format. Loading trusts only scikit-learn's and numpy's defaults plus
  :data:`examol_rdkit.TRUSTED_TYPES`; a file holding any other type is refused, never loaded.
* ``examol-rdkit.json``: payload version and the versions that wrote it.
"""
from __future__ import annotations

import json
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

from examol_core.errors import IncompatibleVersionError

PAYLOAD = 'model.skops'
META = 'examol-rdkit.json'
PAYLOAD_VERSION = 1

__all__ = ['save_model', 'load_model', 'PAYLOAD_VERSION']


def _versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in ('examol-rdkit', 'scikit-learn', 'skops')}


def save_model(model: Any, directory: Path) -> None:
    """Write ``model`` (a pipeline, or one per level) into ``directory`` as skops + JSON."""
    import skops.io as sio

    directory = Path(directory)
    sio.dump(model, directory / PAYLOAD)
    meta = {'payload_version': PAYLOAD_VERSION, 'levels': len(model) if isinstance(model, list) else 1,
            **_versions()}
    (directory / META).write_text(json.dumps(meta, indent=2) + '\n', encoding='utf-8')


def load_model(directory: Path) -> Any:
    """Read a model written by :func:`save_model`, trusting only the types this plugin declares.

    Raises:
        IncompatibleVersionError: missing files, a newer payload version, or types outside
            :data:`examol_rdkit.TRUSTED_TYPES` (the file is then not loaded at all).
    """
    import skops.io as sio

    from examol_rdkit import TRUSTED_TYPES

    directory = Path(directory)
    payload, meta_file = directory / PAYLOAD, directory / META
    if not payload.is_file() or not meta_file.is_file():
        raise IncompatibleVersionError(f'{directory} is not an examol-rdkit model: expected {PAYLOAD} and {META}')
    meta = json.loads(meta_file.read_text(encoding='utf-8'))
    version = meta.get('payload_version')
    if not isinstance(version, int) or version > PAYLOAD_VERSION:
        raise IncompatibleVersionError(f'{directory} holds an examol-rdkit payload of version {version!r} written by '
                                       f'examol-rdkit {meta.get("examol-rdkit", "?")}; this examol-rdkit reads up to '
                                       f'version {PAYLOAD_VERSION}. Upgrade examol-rdkit.')
    untrusted = sorted(set(sio.get_untrusted_types(file=payload)) - set(TRUSTED_TYPES))
    if untrusted:
        raise IncompatibleVersionError(f'{payload} contains types examol-rdkit does not trust: {", ".join(untrusted)}. '
                                       'Refusing to load it: it was not written by this version of examol-rdkit, or '
                                       'was modified.')
    saved = meta.get('scikit-learn', '')
    installed = metadata.version('scikit-learn')
    if saved and saved.split('.')[:2] != installed.split('.')[:2]:
        warnings.warn(f'{payload} was written with scikit-learn {saved}; {installed} is installed. Predictions may '
                      'differ or loading may fail.', stacklevel=2)
    try:
        return sio.load(payload, trusted=list(TRUSTED_TYPES))
    except Exception as exc:
        raise IncompatibleVersionError(f'Could not load {payload} (written with scikit-learn {saved or "?"}, '
                                       f'skops {meta.get("skops", "?")}): {type(exc).__name__}: {exc}') from exc
