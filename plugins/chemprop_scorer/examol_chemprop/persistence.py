"""Saving a network inside an examol model file: JSON architecture plus safetensors weights.

A member directory holds ``architecture.json`` (:class:`~examol_chemprop.model.MPNNConfig`),
``weights.safetensors`` (the ``state_dict`` arrays; the safetensors format is a JSON header and
raw bytes, so loading it cannot run code, unlike a pickle or a full ``torch.save`` file) and
``examol-chemprop.json`` (format and versions). Files are treated as hostile: each must be a
regular file of bounded size (the weights no larger than the architecture needs), and names and
shapes are checked before the model is returned. Runs on the steering side, without PyTorch.
"""
from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import numpy as np

from examol_chemprop.message import MESSAGE_FORMAT
from examol_chemprop.model import ChempropModel, MPNNConfig, check_weights, expected_shapes
from examol_core.errors import IncompatibleVersionError

__all__ = ['save_network', 'load_network', 'ARCHITECTURE_FILE', 'WEIGHTS_FILE', 'FORMAT_FILE']

ARCHITECTURE_FILE = 'architecture.json'
WEIGHTS_FILE = 'weights.safetensors'
FORMAT_FILE = 'examol-chemprop.json'
MAX_JSON_BYTES = 65536
HEADER_ALLOWANCE = 65536
"""Bytes allowed in a weights file beyond the arrays themselves (the safetensors JSON header)."""


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return 'unknown'


def save_network(model: ChempropModel, directory: Path) -> None:
    """Write ``model`` into ``directory`` (steering side).

    Raises:
        ValueError: the model has not been trained.
    """
    from safetensors.numpy import save_file

    from examol_chemprop import __version__

    if model.weights is None:
        raise ValueError('Cannot save an untrained chemprop model: train it first')
    (directory / ARCHITECTURE_FILE).write_text(model.config.to_json())
    # np.ascontiguousarray would turn the 0-d batch counter into shape (1,)
    save_file({k: np.array(v, order='C') for k, v in model.weights.items()}, str(directory / WEIGHTS_FILE))
    (directory / FORMAT_FILE).write_text(json.dumps({'format': MESSAGE_FORMAT, 'examol_chemprop': __version__,
                                                     'chemprop': _version('chemprop'), 'torch': _version('torch')}))


def _read_file(directory: Path, name: str, limit: int) -> Path:
    path = directory / name
    if path.is_symlink() or not path.is_file():
        raise IncompatibleVersionError(f'{directory} does not hold a network saved by examol-chemprop: {name} is '
                                       'missing or not a regular file')
    size = path.stat().st_size
    if size > limit:
        raise IncompatibleVersionError(f'{path} has {size} bytes, more than the {limit} this network can need; '
                                       'refusing to read it')
    return path


def load_network(directory: Path) -> ChempropModel:
    """Read a network written by :func:`save_network`; nothing in it is executed.

    Raises:
        IncompatibleVersionError: files missing, too large, another format, or weights that do not fit.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        info = json.loads(_read_file(directory, FORMAT_FILE, MAX_JSON_BYTES).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise IncompatibleVersionError(f'{directory / FORMAT_FILE} is not valid JSON: {exc}') from None
    if not isinstance(info, dict) or info.get('format') != MESSAGE_FORMAT:
        found = info.get('format') if isinstance(info, dict) else info
        raise IncompatibleVersionError(f'{directory} holds a network in examol-chemprop format {found!r}; this version '
                                       f'reads format {MESSAGE_FORMAT}')
    try:
        text = _read_file(directory, ARCHITECTURE_FILE, MAX_JSON_BYTES).read_text()
    except UnicodeDecodeError as exc:
        raise IncompatibleVersionError(f'{directory / ARCHITECTURE_FILE} is not text: {exc}') from None
    config = MPNNConfig.from_json(text)
    needed = sum(8 * int(np.prod(shape)) for shape in expected_shapes(config).values())
    path = _read_file(directory, WEIGHTS_FILE, needed + HEADER_ALLOWANCE)
    try:
        weights = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise IncompatibleVersionError(f'{path} is not a readable safetensors file: {exc}') from None
    return ChempropModel(config, check_weights(config, weights))
