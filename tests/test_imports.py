"""The core stays light: no scikit-learn or TensorFlow on import, nor through its command."""
import subprocess
import sys


def test_import_does_not_pull_heavy_libraries():
    code = ('import sys, examol_core, examol_core.multifi, examol_core.scorer, examol_core.plugins, '
            'examol_core.testing, examol_core.cli; from examol_core.plugins import available_scorers; available_scorers(); '
            'print(sorted({m.split(".")[0] for m in sys.modules} & {"sklearn", "tensorflow", "keras", "tf_keras", "torch"}))')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '[]'
