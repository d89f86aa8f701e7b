"""Resumable scoring: an interrupted `examol score` (or `score_smiles_file`) continues to the same bytes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from examol_core.colmena import score_smiles_file
from examol_core.colmena.resume import ResumeError, progress_path
from examol_core.modelfile import save_model_file
from examol_core.testing import FIDELITIES, REFERENCE_SMILES, make_reference_records

SUPPORT = [Path(__file__).parent / 'toy_plugin', Path(__file__).parent / 'colmena_support']
TOP = FIDELITIES[-1]


def _model(savetoy, path: Path, delay: float = 0.0, members: int = 1) -> Path:
    scorer = savetoy.SaveableLookupScorer(delay=delay)
    records = make_reference_records()
    inputs, outputs = scorer.transform_inputs(records), scorer.transform_outputs(records, TOP)
    models = [scorer.update(savetoy.LookupModel(), scorer.retrain(None, inputs[i:], outputs[i:]))
              for i in range(members)]
    save_model_file(path, models if members > 1 else models[0], scorer_name='savetoy', scorer=scorer,
                    scorer_options={'delay': delay}, model_name='lookup', recipe=TOP)
    return path


@pytest.fixture
def space(tmp_path) -> Path:
    """200 lines: the reference molecules over and over, with comments, blank lines and bad SMILES among them."""
    lines = []
    for i in range(200):
        lines.append(REFERENCE_SMILES[i % len(REFERENCE_SMILES)] if i % 23 else 'not-a-molecule')
        if i % 31 == 0:
            lines.append('# a comment' if i % 2 else '')
    path = tmp_path / 'space.smi'
    path.write_text('\n'.join(lines) + '\n')
    return path


def _interrupt_after(chunks: int):
    """A progress callback that presses Ctrl-C after ``chunks`` chunks."""
    seen = []

    def progress(p):
        seen.append(p.done)
        if len(seen) == chunks:
            raise KeyboardInterrupt

    return progress


def test_interrupted_run_resumes_to_the_same_bytes(tmp_path, savetoy, space):
    model = _model(savetoy, tmp_path / 'model.zip', members=2)
    full = score_smiles_file(model, space, tmp_path / 'full.csv', chunk_size=7, local=True)
    assert full.rejected > 0 and full.scored > 150

    out = tmp_path / 'out.csv'
    with pytest.raises(KeyboardInterrupt):
        score_smiles_file(model, space, out, chunk_size=7, local=True, progress=_interrupt_after(3))
    assert not out.exists() and progress_path(out).is_file()
    assert json.loads(progress_path(out).read_text())['state']['done'] == 21

    seen = []
    summary = score_smiles_file(model, space, out, chunk_size=7, local=True, resume=True,
                                progress=lambda p: seen.append(p.done))
    assert seen[0] == 28 and len(seen) == -(-(full.scored + full.rejected) // 7) - 3, 'finished chunks were rescored'
    assert out.read_bytes() == (tmp_path / 'full.csv').read_bytes()
    assert (tmp_path / 'out.rejects.csv').read_bytes() == (tmp_path / 'full.rejects.csv').read_bytes()
    assert (summary.scored, summary.rejected) == (full.scored, full.rejected)
    assert not progress_path(out).exists() and not list(tmp_path.glob('.*.part'))


def test_resume_refuses_other_inputs_or_options(tmp_path, savetoy, space):
    model = _model(savetoy, tmp_path / 'model.zip')
    out = tmp_path / 'out.csv'
    with pytest.raises(ResumeError, match='Nothing to resume'):
        score_smiles_file(model, space, out, chunk_size=7, local=True, resume=True)
    with pytest.raises(KeyboardInterrupt):
        score_smiles_file(model, space, out, chunk_size=7, local=True, progress=_interrupt_after(2))

    with pytest.raises(ResumeError, match='option chunk_size was 7, now 5'):
        score_smiles_file(model, space, out, chunk_size=5, local=True, resume=True)
    with pytest.raises(ResumeError, match='option retries was 1, now 3'):  # (unknown score_options are refused earlier)
        score_smiles_file(model, space, out, chunk_size=7, local=True, resume=True, retries=3)
    other = _model(savetoy, tmp_path / 'other.zip', members=2)
    with pytest.raises(ResumeError, match='the model file differs'):
        score_smiles_file(other, space, out, chunk_size=7, local=True, resume=True)
    changed = tmp_path / 'changed.smi'
    changed.write_text(space.read_text().replace('CCO', 'CCN', 1))
    with pytest.raises(ResumeError, match='the SMILES file differs'):
        score_smiles_file(model, changed, out, chunk_size=7, local=True, resume=True)

    # Refusals leave the interrupted run as it was: it still resumes
    summary = score_smiles_file(model, space, out, chunk_size=7, local=True, resume=True)
    full = score_smiles_file(model, space, tmp_path / 'full.csv', chunk_size=7, local=True)
    assert out.read_bytes() == (tmp_path / 'full.csv').read_bytes() and summary.scored == full.scored


DRIVER = """
import sys
sys.path[:0] = {support!r}
import examol_savetoy
from examol_core import plugins
plugins.get_plugin_manager().register(examol_savetoy, name='savetoy')
from examol_core.cli import main
sys.argv = ['examol', *sys.argv[1:]]
main()
"""


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            if int(stat.read_text().rsplit(')', 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            pass
    return found


@pytest.mark.slow
def test_sigkill_of_the_steering_process_then_resume(tmp_path, savetoy, space):
    model = _model(savetoy, tmp_path / 'model.zip', delay=0.05)
    driver = [sys.executable, '-c', DRIVER.format(support=[str(p) for p in SUPPORT])]
    args = ['score', '--model', str(model), '--smiles', str(space), '--output', 'out.csv', '--chunk-size', '5',
            '--local', '--workers', '1']
    proc = subprocess.Popen([*driver, *args], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    progress = progress_path(tmp_path / 'out.csv')
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if progress.is_file() and json.loads(progress.read_text())['state']['chunks'] >= 4:
            break
        time.sleep(0.02)
    assert proc.poll() is None, 'the run ended before it could be killed: ' + proc.stderr.read().decode()
    children = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    done = json.loads(progress.read_text())['state']['done']
    assert 20 <= done < 200 and not (tmp_path / 'out.csv').exists()
    deadline = time.monotonic() + 30  # the task server notices that its steering process is gone, and ends
    while any(Path(f'/proc/{pid}').exists() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if Path(f'/proc/{pid}').exists()], 'processes outlived the killed command'

    resumed = subprocess.run([*driver, *args, '--resume'], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    full = subprocess.run([*driver, *args[:6], 'full.csv', *args[7:]], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert full.returncode == 0, full.stdout + full.stderr
    assert (tmp_path / 'out.csv').read_bytes() == (tmp_path / 'full.csv').read_bytes()
    assert (tmp_path / 'out.rejects.csv').read_bytes() == (tmp_path / 'full.rejects.csv').read_bytes()
    assert not progress.exists()
