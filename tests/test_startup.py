"""Start-up and shutdown of task servers waste no time: the cuts of issue 9 item 6 stay cut."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_local_server_marks_only_its_own_processes():
    """Only the local server's process group carries the run's marker: nothing of the steering process's own.

    A fresh interpreter, since multiprocessing's resource tracker (a child of the steering process
    that ignores SIGTERM) starts once per process: started under the marker, it was taken for a
    leftover of the server, and every ``--local`` run waited 5 s at exit before killing it.
    """
    code = textwrap.dedent('''
        import json, logging, math, os, sys
        logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format='LOG %(message)s')
        from examol_core.colmena import start_task_server
        from examol_core.colmena.processes import marked_processes

        def group(pid):
            return int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[2])

        with start_task_server([math.sqrt], local=True, use_proxystore=False) as server:
            server.queues.send_inputs(4.0, method='sqrt', topic='score')
            result = server.queues.get_result(topic='score', timeout=120)
            assert result.success, result.failure_info
            groups = {pid: group(pid) for pid in marked_processes(server.marker)}
            print(json.dumps({'server': server.server.pid, 'groups': groups}))
    ''')
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    found = json.loads(next(line for line in lines if line.startswith('{')))
    assert found['groups'], 'the server itself carries the marker'
    assert set(found['groups'].values()) == {found['server']}, found
    assert not [line for line in lines if line.startswith('LOG')], 'nothing was left for end_marked to kill'


def test_members_load_while_the_task_server_starts(tmp_path, savetoy, monkeypatch):
    """``score_smiles_file`` starts the task server before it loads the model's members (the slow part).

    The file is checked and its scorer rebuilt first, so a hostile file is still refused before any
    server starts (tests/test_hostile_models.py); the members' safe loader (skops for scikit-learn,
    with its imports: seconds) then runs while the workers boot.
    """
    import multiprocessing

    from examol_core.colmena import score_smiles_file
    from examol_core.modelfile import OpenModelFile, save_model_file
    from examol_core.testing import FIDELITIES, REFERENCE_SMILES, make_reference_records

    scorer = savetoy.SaveableLookupScorer()
    records = make_reference_records()
    inputs, outputs = scorer.transform_inputs(records), scorer.transform_outputs(records, FIDELITIES[-1])
    model = scorer.update(savetoy.LookupModel(), scorer.retrain(None, inputs, outputs))
    path = tmp_path / 'model.zip'
    save_model_file(path, model, scorer_name='savetoy', scorer=scorer, model_name='lookup')
    smiles = tmp_path / 'in.smi'
    smiles.write_text('\n'.join(REFERENCE_SMILES) + '\n')
    servers_at_load = []
    load = OpenModelFile.load

    def watched(self):
        servers_at_load.append([p.name for p in multiprocessing.active_children() if p.is_alive()])
        return load(self)

    monkeypatch.setattr(OpenModelFile, 'load', watched)
    summary = score_smiles_file(path, smiles, tmp_path / 'out.csv', local=True)
    assert summary.ok and summary.scored == len(REFERENCE_SMILES)
    assert servers_at_load == [['examol-local-task-server']], 'the members were loaded once, with the server up'


def test_local_commands_start_no_process(tmp_path, savetoy, monkeypatch):
    """``examol train`` and ``examol score`` with ``--local`` run their tasks on threads of the command's process.

    A spawned server would be a second interpreter importing Colmena, the scorer's plugin and its
    libraries again, and loading the model once more: most of a short ``--local`` run.
    """
    import csv
    import multiprocessing.process

    from typer.testing import CliRunner

    from examol_core.cli import app
    from examol_core.records import write_records
    from examol_core.testing import REFERENCE_SMILES, make_reference_records

    def refuse(self):
        raise AssertionError(f'--local started a process ({self.name})')

    monkeypatch.setattr(multiprocessing.process.BaseProcess, 'start', refuse)
    write_records(make_reference_records(), tmp_path / 'records.jsonl.gz')
    (tmp_path / 'in.smi').write_text('\n'.join(REFERENCE_SMILES) + '\nnot-a-molecule\n')
    runner = CliRunner()
    trained = runner.invoke(app, ['train', '--records', str(tmp_path / 'records.jsonl.gz'), '--recipe',
                                  'oxidation_potential/high-adiabatic', '--scorer', 'savetoy', '--model', 'lookup',
                                  '--output', str(tmp_path / 'model.zip'), '--local'], catch_exceptions=False)
    assert trained.exit_code == 0, trained.output
    scored = runner.invoke(app, ['score', '--model', str(tmp_path / 'model.zip'), '--smiles', str(tmp_path / 'in.smi'),
                                 '--output', str(tmp_path / 'out.csv'), '--chunk-size', '3', '--local', '--workers', '2'],
                           catch_exceptions=False)
    assert scored.exit_code == 0, scored.output
    with open(tmp_path / 'out.csv', newline='') as fp:
        rows = list(csv.DictReader(fp))
    assert [row['smiles'] for row in rows] == list(REFERENCE_SMILES)


def test_parsl_launches_the_first_block_without_waiting_a_poll_period():
    """Parsl launches even the initial block at its first job-status poll: 5 s after start by default.

    The default configuration and the shipped local example poll within a second (the first chunk of
    a 300-molecule run came 5 s later without it).
    """
    from examol_core.colmena import default_parsl_config, load_parsl_config

    examples = Path(__file__).resolve().parents[1] / 'examples'
    for config in (default_parsl_config(2), load_parsl_config(examples / 'parsl_local.py')):
        assert config.strategy == 'none' and config.strategy_period <= 1, config
