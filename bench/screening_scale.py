"""Screening at campaign scale: ``examol score`` on 100k, 1M and 10M SMILES lines with a saved KNN model.

For each size it prints the throughput with 1 and 2 local Parsl workers, the steering process's
peak memory, the workers' peak memory, and how busy the steering process was (its CPU time over
the wall time: near 100 % means it, not the workers, set the pace). It also prints the start-up
of a 300-molecule run (to the first scored chunk and to exit, Parsl and ``--local``), and the
command's throughput against the in-process scorer's on one core for each model asked for
(``--models knn gpr nfp``).

The SMILES files are built deterministically from the shipped search space
(``examol_core/data/search-space.smi``, 1,000 molecules): line ``i`` is a randomised SMILES of
molecule ``i mod 1000``, the ``k``-th of RDKit's ``MolToRandomSmilesVect(mol, ..., randomSeed=k)``
for ``k = i // 1000``: every line is a valid, distinct spelling that the workers must parse and
featurise afresh. Files are cached in ``--workdir``.

Usage::

    python bench/screening_scale.py [--quick] [--sizes 100000 1000000 10000000] [--models knn gpr]

Run it on a quiet machine: the figures are wall-clock times of several processes on shared cores.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / 'examol_core' / 'data'
SEARCH_SPACE = DATA / 'search-space.smi'
RECORDS = DATA / 'redoxmers-oxidation.jsonl.gz'
RECIPE = 'oxidation_potential/gfn2-adiabatic'
MODELS = {'knn': ('rdkit', 'knn', ['--set', 'n_neighbors=4']), 'gpr': ('rdkit', 'gpr', ['--set', 'num_pcs=10']),
          'nfp': ('nfp', 'mpnn', ['--set', 'train.num_epochs=4'])}


def build_smiles(n: int, path: Path) -> Path:
    """``n`` randomised SMILES lines of the shipped search space (see the module docstring); cached."""
    if path.is_file() and sum(1 for _ in open(path, 'rb')) == n:
        return path
    from rdkit import Chem

    base = [Chem.MolFromSmiles(line.split()[0]) for line in SEARCH_SPACE.read_text().splitlines() if line.strip()]
    rounds = -(-n // len(base))
    tmp = path.with_suffix('.part')
    with open(tmp, 'w') as fp:
        # Write in blocks of one round per molecule so that memory stays small at 10M lines
        for start in range(0, rounds, 100):
            stop = min(start + 100, rounds)
            variants = [_random_smiles(mol, start, stop) for mol in base]
            for k in range(stop - start):
                lines = [v[k] for v in variants]
                left = n - (start + k) * len(base)
                if left <= 0:
                    break
                fp.write('\n'.join(lines[:left]) + '\n')
    os.replace(tmp, path)
    return path


def _random_smiles(mol, start: int, stop: int) -> list[str]:
    """The randomised SMILES ``start..stop-1`` of a molecule: seed ``k`` gives the ``k``-th."""
    from rdkit import Chem

    return [Chem.MolToRandomSmilesVect(mol, 1, randomSeed=k + 1)[0] for k in range(start, stop)]


class Watcher:
    """Peak RSS and CPU time of a command's process (the steering side), of its Parsl workers, and of all its processes.

    Parsl's local provider detaches the worker pool (its parent becomes init), so workers are found
    by a tag in their environment, which they inherit from the command; the CPU time of all
    processes counts every tagged process and their children (Parsl's interchange renames itself,
    which hides its environment) as last seen, so a process's last ``period`` may be missed.
    """

    def __init__(self, proc: subprocess.Popen, tag: str, period: float = 0.2):
        self.root = psutil.Process(proc.pid)
        self.tag = tag
        self.period = period
        self.steering_rss = self.workers_rss = 0
        self.steering_cpu = 0.0
        self._workers: dict[int, psutil.Process] = {}
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def all_cpu(self) -> float:
        """User + system CPU seconds of every process of the command, as last seen."""
        return sum(self._cpu.values())

    def _find(self) -> None:
        for proc in psutil.process_iter(['name', 'cmdline', 'ppid']):
            if proc.pid in self._cpu and proc.pid not in (self.root.pid,):
                self._sample(proc)
                continue
            try:
                ours = proc.pid == self.root.pid or proc.info['ppid'] in self._cpu or \
                    proc.environ().get('EXAMOL_BENCH_TAG') == self.tag
            except psutil.Error:
                continue
            if not ours:
                continue
            self._sample(proc)
            text = f'{proc.info["name"]} {" ".join(proc.info["cmdline"] or [])}'
            if 'worker' in text.lower() and proc.pid != self.root.pid:
                self._workers[proc.pid] = proc

    def _sample(self, proc: psutil.Process) -> None:
        try:
            times = proc.cpu_times()
            self._cpu[proc.pid] = times.user + times.system
        except psutil.Error:
            pass

    def _run(self) -> None:
        polls = 0
        while not self._stop.is_set():
            try:
                self.steering_rss = max(self.steering_rss, self.root.memory_info().rss)
                times = self.root.cpu_times()
                self.steering_cpu = times.user + times.system
            except psutil.Error:
                pass
            if polls % 2 == 0:
                self._find()
            for proc in list(self._workers.values()):
                try:
                    self.workers_rss = max(self.workers_rss, proc.memory_info().rss)
                except psutil.Error:
                    pass
            polls += 1
            self._stop.wait(self.period)


    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


FIRST_CHUNK = """
import sys, time
import psutil
from examol_core.colmena import thinker
created = psutil.Process().create_time()
stream = thinker.ScorerClient.stream_smiles
def timed(self, *args, **kwargs):
    for i, chunk in enumerate(stream(self, *args, **kwargs)):
        if i == 0:
            print(f'FIRST-CHUNK {time.time() - created:.3f}', file=sys.stderr, flush=True)
        yield chunk
thinker.ScorerClient.stream_smiles = timed
from examol_core.cli import main
sys.argv = ['examol', *sys.argv[1:]]
main()
"""


def steady_rate(r: dict[str, float], n: int, chunk: int) -> float:
    """Molecules/s once the first chunk is out: the rate without the start-up.

    ``chunk`` is the molecules counted as done by then: pass one chunk per worker, since the
    workers' first chunks come out together.
    """
    return max(n - chunk, 1) / max(r['wall'] - r['first'], 1e-9)


def run_score(model: Path, smiles: Path, out: Path, *args: str) -> dict[str, float]:
    """Run ``examol score`` in a fresh process and measure it; raises if it fails.

    The time to the first scored chunk is taken inside the process, from its creation to the
    first chunk coming out of the command's stream (the process runs the command's ``main``).
    """
    cmd = [sys.executable, '-c', FIRST_CHUNK, 'score', '--model', str(model), '--smiles', str(smiles),
           '--output', str(out), *args]
    tag = os.urandom(8).hex()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, 'EXAMOL_BENCH_TAG': tag})
    watcher = Watcher(proc, tag)
    _, stderr = proc.communicate()
    wall = time.perf_counter() - start
    watcher.stop()
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd[3:])} failed: {stderr[-2000:]}')
    first = [float(line.split()[1]) for line in stderr.splitlines() if line.startswith('FIRST-CHUNK')]
    return {'wall': wall, 'first': first[0] if first else float('nan'), 'steering_rss': watcher.steering_rss / 2**20,
            'workers_rss': watcher.workers_rss / 2**20, 'steering_busy': watcher.steering_cpu / wall,
            'steering_cpu': watcher.steering_cpu, 'all_cpu': max(watcher.all_cpu, watcher.steering_cpu),
            'workers_cpu': max(watcher.all_cpu - watcher.steering_cpu, 0.)}


def train(name: str, workdir: Path) -> Path:
    scorer, model, options = MODELS[name]
    path = workdir / f'{name}.zip'
    if not path.is_file():
        subprocess.run([sys.executable, '-m', 'examol_core', 'train', '--records', str(RECORDS), '--recipe', RECIPE,
                        '--scorer', scorer, '--model', model, *options, '--output', str(path), '--local'],
                       check=True, stdout=subprocess.DEVNULL)
    return path


def in_process_rate(model: Path, smiles: Path, n: int, chunk_size: int) -> float:
    """Molecules/s of the scorer alone on one core in a fresh process: SMILES in, scores out, after a warm-up.

    The scorer gets the cheapest inputs it offers, ``transform_smiles`` (what the command's workers
    call), then ``score``; an ensemble is timed on its first member.
    """
    code = f'''
import itertools, os, time
if hasattr(os, 'sched_setaffinity'):  # one core, even for a model set to use every core (n_jobs=-1)
    os.sched_setaffinity(0, {{min(os.sched_getaffinity(0))}})
from examol_core.modelfile import load_model_file
saved = load_model_file({str(model)!r})
lines = [line.split()[0] for line in itertools.islice(open({str(smiles)!r}), {n})]
scorer = saved.scorer
msg = scorer.prepare_message(saved.members[0] if saved.is_ensemble else saved.model)
def score(chunk):
    return scorer.score(msg, scorer.transform_smiles(chunk))
score(lines[:10])
start = time.perf_counter()
for i in range(0, len(lines), {chunk_size}):
    score(lines[i:i + {chunk_size}])
print(len(lines) / (time.perf_counter() - start))
'''
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'OPENBLAS_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    out = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True, text=True, env=env)
    return float(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='Small sizes, for a smoke run (about a minute).')
    parser.add_argument('--sizes', type=int, nargs='+', help='SMILES lines per run (default 100k 1M 10M).')
    parser.add_argument('--models', nargs='+', default=['knn'], choices=list(MODELS),
                        help='Models for the command-vs-in-process comparison.')
    parser.add_argument('--chunk-size', type=int, default=10_000)
    parser.add_argument('--workdir', type=Path, default=Path(tempfile.gettempdir()) / 'examol-bench-scale')
    parser.add_argument('--skip-startup', action='store_true')
    parser.add_argument('--startup-runs', type=int, default=1, help='Runs of each start-up mode (alternated).')
    parser.add_argument('--skip-scale', action='store_true')
    parser.add_argument('--skip-compare', action='store_true', help='Skip the comparison with the in-process scorer.')
    parser.add_argument('--compare-lines', type=int, help='Lines of the comparison with the in-process scorer '
                        '(default 100k; 4k with --quick).')
    args = parser.parse_args()
    sizes = args.sizes or ([5_000, 20_000] if args.quick else [100_000, 1_000_000, 10_000_000])
    compare_n = args.compare_lines or (4_000 if args.quick else 100_000)
    chunk = min(args.chunk_size, 1_000) if args.quick else args.chunk_size
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    print(f'# screening_scale on {platform.node()}: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, '
          f'python {platform.python_version()}, chunk size {chunk}')
    knn = train('knn', args.workdir)

    if not args.skip_startup:
        startup(knn, args.workdir, args.startup_runs)

    if not args.skip_scale:
        scale(knn, sizes, chunk, args.workdir)
    if not args.skip_compare:
        compare(args.models, compare_n, chunk, args.workdir)
    print(f'\n# load at the end {os.getloadavg()[0]:.1f}')


def startup(knn: Path, workdir: Path, runs: int = 1) -> None:
    """Time to the first scored chunk and to exit of a 300-molecule run, and the CPU time it took.

    CPU is user + system seconds of the steering process, and of all the command's processes
    (task server, Parsl's interchange, worker pool and workers): on a shared machine, the wall
    time depends on the load, the CPU time much less. Whether the environment has compiled
    bytecode (``.pyc``) matters: every process imports its modules afresh.
    """
    s300 = workdir / 'startup-300.smi'
    s300.write_text(''.join(SEARCH_SPACE.read_text().splitlines(keepends=True)[:300]))
    pyc = any(Path(sys.modules['psutil'].__file__).parent.glob('__pycache__/*.pyc'))
    print(f'\n## Start-up: 300 molecules, KNN, chunks of 100 (s); environment {"with" if pyc else "without"} .pyc files')
    print('| mode | first chunk | exit | CPU steering | CPU all processes | load |\n|---|---|---|---|---|---|')
    for _ in range(runs):
        for label, extra in (('Parsl, 2 local workers', ['--workers', '2']), ('--local (threads)', ['--local'])):
            r = run_score(knn, s300, workdir / 'startup.csv', '--chunk-size', '100', *extra)
            print(f'| {label} | {r["first"]:.2f} | {r["wall"]:.2f} | {r["steering_cpu"]:.1f} | {r["all_cpu"]:.1f} | '
                  f'{os.getloadavg()[0]:.1f} |', flush=True)


def scale(knn: Path, sizes: list[int], chunk: int, workdir: Path) -> None:
    """Throughput, memory and steering share for each size, with 1 and 2 workers."""
    print('\n## Scale: examol score, KNN')
    print('| lines | workers | wall (s) | molecules/s | after the first chunk | steering peak RSS (MB) | '
          'worker peak RSS (MB) | steering busy | CPU off the steering process (µs/molecule) | load |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    rates, cpu = {}, {}
    for n in sizes:
        smiles = build_smiles(n, workdir / f'lines-{n}.smi')
        for workers in (1, 2):
            r = run_score(knn, smiles, workdir / 'scale.csv', '--chunk-size', str(chunk), '--workers', str(workers))
            rates[n, workers] = n / r['wall']
            cpu[n, workers] = r['workers_cpu'] / n
            print(f'| {n:,} | {workers} | {r["wall"]:.1f} | {n / r["wall"]:,.0f} | {steady_rate(r, n, chunk * workers):,.0f} | '
                  f'{r["steering_rss"]:.0f} | {r["workers_rss"]:.0f} | {r["steering_busy"]:.0%} | '
                  f'{cpu[n, workers] * 1e6:.0f} | {os.getloadavg()[0]:.1f} |', flush=True)
    # The wall-time ratio is bounded by the cores the workers actually got on a shared machine; the ratio of
    # CPU per molecule outside the steering process (Parsl and its workers) says whether a second worker adds
    # work of its own (1.00: none)
    print('\n| lines | 2 workers / 1 worker (throughput) | CPU off the steering process per molecule, 2 / 1 | '
          'rate / rate at smallest size (2 workers) |\n|---|---|---|---|')
    for n in sizes:
        print(f'| {n:,} | {rates[n, 2] / rates[n, 1]:.2f} | {cpu[n, 2] / cpu[n, 1]:.2f} | '
              f'{rates[n, 2] / rates[sizes[0], 2]:.2f} |')


def compare(models: list[str], compare_n: int, chunk: int, workdir: Path) -> None:
    """The command (1 and 2 workers) against the in-process scorer on one core, for each model."""
    print(f'\n## The command against the in-process scorer ({compare_n:,} lines, one core in-process)')
    print('Command rates are counted after its first chunk (start-up apart; see the start-up table).')
    print('| model | in-process 1 core (mol/s) | command, 1 worker | command, 2 workers | 2 workers / in-process |')
    print('|---|---|---|---|---|')
    smiles = build_smiles(compare_n, workdir / f'lines-{compare_n}.smi')
    for name in models:
        try:
            model = train(name, workdir)
        except subprocess.CalledProcessError as exc:
            print(f'| {name} | could not train ({exc}) | | | |')
            continue
        cmp_chunk = min(chunk, max(100, compare_n // 20))
        base = in_process_rate(model, smiles, compare_n, cmp_chunk)
        one, two = (steady_rate(run_score(model, smiles, workdir / 'cmp.csv', '--chunk-size', str(cmp_chunk),
                                          '--workers', str(w)), compare_n, cmp_chunk * w) for w in (1, 2))
        print(f'| {name} | {base:,.0f} | {one:,.0f} | {two:,.0f} | {two / base:.2f} |', flush=True)


if __name__ == '__main__':
    main()
