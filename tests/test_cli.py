"""The CLI starts fast: --help and the edge commands never import TensorFlow or Keras."""

import subprocess
import sys

import pytest

from edge_runtime.cli import COMMANDS

EDGE_COMMANDS = [n for n, (module, _) in COMMANDS.items() if module.split(".")[0] in ("edge_runtime", "firmware_bridge")]
PROBE = """
import sys
from edge_runtime.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))
print('HEAVY:' + ','.join(heavy))
"""


def _imports_for(argv):
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, timeout=120)
    line = [l for l in out.stdout.splitlines() if l.startswith("HEAVY:")]
    assert line, out.stderr
    return line[-1][len("HEAVY:"):], out.stdout


def test_top_level_help_lists_every_command_without_tensorflow():
    heavy, stdout = _imports_for(["--help"])
    assert heavy == ""
    for name in COMMANDS:
        assert name in stdout


@pytest.mark.parametrize("name", EDGE_COMMANDS)
def test_edge_command_help_does_not_import_tensorflow(name):
    heavy, stdout = _imports_for([name, "--help"])
    assert heavy == "", f"'edge-runtime {name} --help' imported {heavy}"
    assert "usage: edge-runtime " + name in stdout


def test_workstation_command_help_stays_light_too():
    heavy, _ = _imports_for(["evaluate", "--help"])
    assert heavy == ""


def test_unknown_command_fails_with_usage():
    out = subprocess.run([sys.executable, "-m", "edge_runtime.cli", "nope"], capture_output=True, text=True)
    assert out.returncode == 2 and "invalid choice" in out.stderr
