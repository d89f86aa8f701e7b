"""Training and inference loops for chemprop networks (run where retrain and score run: a worker).

A plain PyTorch loop rather than a Lightning ``Trainer``: it needs no logger, progress bar or
checkpoint directory on the worker, has no ``drop_last`` surprise for a single molecule, masks
unknown labels per level, stops on a wall-clock timeout and returns the weights of the best
validation epoch. The learning-rate schedule is chemprop's own (linear warm-up over two epochs,
then an exponential decay to a tenth of the peak), as chemprop's ``MPNN`` uses when trained
through Lightning.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from examol_chemprop.data import batches
from examol_core.errors import ExamolError

if TYPE_CHECKING:
    from chemprop.data import MolGraph
    from chemprop.models import MPNN

__all__ = ['train', 'predict', 'masked_squared_errors', 'initialise_scales', 'resolve_device', 'TrainingDivergedError']


class TrainingDivergedError(ExamolError, RuntimeError):
    """The training loss was never finite: the labels or the learning rate need attention."""


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda`` (or ``cuda:N``) or ``auto`` (a GPU when one is present, else the CPU).

    Raises:
        ValueError: a GPU asked for where none is available, or an unknown device name.
    """
    if device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f'device={device!r} was asked for but PyTorch sees no GPU on this worker '
                         f'(torch {torch.__version__}); use device="cpu" or "auto"')
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f'Unknown device {device!r}: use "cpu", "cuda" or "auto" ({exc})') from None


def initialise_scales(network: 'MPNN', labels: np.ndarray) -> None:
    """Set the head's output transform to each output's mean and standard deviation (NaN ignored)."""
    transform = network.predictor.output_transform
    known = np.isfinite(labels)
    mean = np.array([labels[known[:, j], j].mean() if known[:, j].any() else 0. for j in range(labels.shape[1])])
    std = np.array([labels[known[:, j], j].std() if known[:, j].sum() > 1 else 0. for j in range(labels.shape[1])])
    std = np.where(std > 1e-8, std, 1.)
    with torch.no_grad():
        transform.mean.copy_(torch.as_tensor(mean, dtype=transform.mean.dtype).reshape(transform.mean.shape))
        transform.scale.copy_(torch.as_tensor(std, dtype=transform.scale.dtype).reshape(transform.scale.shape))


def masked_squared_errors(network: 'MPNN', raw: torch.Tensor, targets: torch.Tensor, sum_outputs: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of squared errors in units of each output's scale, over known targets, and their count.

    ``raw`` is the head's output in training mode (scaled); un-scaling it here lets one loss serve
    both per-level targets and, with ``sum_outputs``, a single target for the sum of the outputs.
    """
    mean = network.predictor.output_transform.mean.reshape(1, -1)
    scale = network.predictor.output_transform.scale.reshape(1, -1)
    values = raw * scale + mean
    if sum_outputs:
        values, scale = values.sum(dim=1, keepdim=True), scale[:, :1]
    known = torch.isfinite(targets)
    errors = torch.where(known, (values - torch.nan_to_num(targets)) / scale, torch.zeros_like(values))
    return (errors ** 2).sum(), known.sum()


def _lr_schedule(optimiser: torch.optim.Optimizer, steps_per_epoch: int, num_epochs: int, learning_rate: float):
    from chemprop.schedulers import build_NoamLike_LRSched

    warmup = max(1, min(2, num_epochs) * steps_per_epoch)
    cooldown = max(1, (num_epochs - 2) * steps_per_epoch)
    return build_NoamLike_LRSched(optimiser, warmup, cooldown, learning_rate / 10, learning_rate, learning_rate / 10)


def _evaluate(network: 'MPNN', graphs: Sequence['MolGraph'], rows: np.ndarray, labels: torch.Tensor,
              batch_size: int, sum_outputs: bool, device: torch.device) -> float:
    network.eval()
    sse, count = 0., 0
    with torch.inference_mode():
        for batch_rows, batch in batches(graphs, rows, batch_size):
            batch.to(device)
            raw = network.predictor.ffn(network.fingerprint(batch))  # scaled, as in training
            s, c = masked_squared_errors(network, raw, labels[torch.as_tensor(batch_rows)].to(device), sum_outputs)
            sse, count = sse + float(s.detach()), count + int(c)
    return sse / max(count, 1)


def train(network: 'MPNN', graphs: Sequence['MolGraph'], labels: np.ndarray, *, num_epochs: int, batch_size: int,
          validation_split: float, learning_rate: float, patience: int | None, timeout: float | None,
          sum_outputs: bool, rng: np.random.Generator, device: torch.device, verbose: bool = False) -> dict[str, list[float]]:
    """Train ``network`` in place on ``labels`` (``(n, outputs)``, NaN where unknown, or ``(n, 1)`` with ``sum_outputs``).

    Returns:
        The history per epoch: ``loss`` (mean squared error in units of the label spread),
        ``val_loss`` when validating, ``lr``, ``epoch_time`` and ``epoch_cpu_time`` (of this process).
        With validation, the weights of the
        best validation epoch are restored at the end; without, the last epoch's are kept.
    Raises:
        TrainingDivergedError: the loss was never finite.
    """
    network.to(device)
    order = rng.permutation(len(graphs))
    n_val = min(int(round(validation_split * len(graphs))), len(graphs) - 1)  # keep one to train on
    val_rows, train_rows = order[:n_val], order[n_val:]
    targets = torch.as_tensor(labels, dtype=torch.float32)
    steps = math.ceil(len(train_rows) / batch_size)
    optimiser = torch.optim.Adam(network.parameters(), lr=learning_rate / 10)
    schedule = _lr_schedule(optimiser, steps, num_epochs, learning_rate)
    history: dict[str, list[float]] = {'loss': [], 'lr': [], 'epoch_time': [], 'epoch_cpu_time': []}
    if n_val:
        history['val_loss'] = []
    best, best_state, waited, diverged = math.inf, None, 0, False
    deadline = None if timeout is None else time.monotonic() + timeout
    for epoch in range(num_epochs):
        start, cpu = time.perf_counter(), time.process_time()
        network.train()
        sse, count = 0., 0
        history['lr'].append(optimiser.param_groups[0]['lr'])
        for batch_rows, batch in batches(graphs, rng.permutation(train_rows), batch_size, min_last=2):
            batch.to(device)
            raw = network(batch)  # training mode: the output transform leaves outputs scaled
            s, c = masked_squared_errors(network, raw, targets[torch.as_tensor(batch_rows)].to(device), sum_outputs)
            if int(c) == 0:
                schedule.step()
                continue
            optimiser.zero_grad()
            (s / c).backward()
            optimiser.step()
            schedule.step()
            sse, count = sse + float(s.detach()), count + int(c)
        loss = sse / max(count, 1)
        history['loss'].append(loss)
        monitored = loss
        if n_val:
            monitored = _evaluate(network, graphs, val_rows, targets, batch_size, sum_outputs, device)
            history['val_loss'].append(monitored)
        history['epoch_time'].append(time.perf_counter() - start)
        history['epoch_cpu_time'].append(time.process_time() - cpu)
        if verbose:
            extra = f' val_loss {monitored:.4f}' if n_val else ''
            print(f'epoch {epoch + 1}/{num_epochs} loss {loss:.4f}{extra} ({history["epoch_time"][-1]:.1f} s)', flush=True)
        if not math.isfinite(monitored):
            diverged = True
            break
        if monitored < best:
            best, waited = monitored, 0
            if n_val:
                best_state = copy.deepcopy(network.state_dict())
        else:
            waited += 1
        if (patience is not None and waited > patience) or (deadline is not None and time.monotonic() > deadline):
            break
    if not math.isfinite(best) or (diverged and best_state is None):
        raise TrainingDivergedError(f'The training loss was never finite ({history["loss"]}); check the labels for '
                                    'extreme values or lower the learning rate')
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    return history


def predict(network: 'MPNN', graphs: Sequence['MolGraph'], batch_size: int, device: torch.device) -> np.ndarray:
    """Every output of ``network`` for each graph, in input order: ``(len(graphs), outputs)``."""
    network.eval()
    network.to(device)
    out = np.empty((len(graphs), network.predictor.n_tasks))
    with torch.inference_mode():
        for rows, batch in batches(graphs, np.arange(len(graphs)), batch_size):
            batch.to(device)
            out[rows] = network(batch).cpu().numpy()
    return out
