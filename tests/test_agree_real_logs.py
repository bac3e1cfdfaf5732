"""benchmarks/agree_real_logs.py, the agreement check run on real logs: it finds the CLI in
agreement with the independent code on the shared real log and on the sample, and it
does report a disagreement when there is one."""
from __future__ import annotations

import subprocess
import sys

from tests.test_cli import RECEIPT, ROOT

SCRIPT = ROOT / "benchmarks" / "agree_real_logs.py"


def agree(*args):
    proc = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    return proc.returncode, proc.stdout.strip().splitlines()


def test_receipt_log_agrees_in_funnels_breakdown_and_paths():
    code, lines = agree(RECEIPT, "--map", "channel=case:channel")
    assert code == 0, "\n".join(lines)
    # 2 validate checks; from the file and from a workspace dataset, 5 funnels × (counts,
    # medians) and 1 breakdown; 3 paths checks
    assert lines[-1] == "27 passed, 0 failed"
    assert any("funnel (ws) strict" in line for line in lines)
    assert any("customers per step per entry channel" in line for line in lines)


def test_sample_log_agrees_in_scores_too():
    code, lines = agree(ROOT / "sample_data" / "interactions.csv", "--top", "300")
    assert code == 0, "\n".join(line for line in lines if "FAIL" in line)
    # 27 as above, plus 3 metrics × 3 groupings (month, channel, touchpoint) × 4 checks
    assert lines[-1] == "63 passed, 0 failed"


def test_a_disagreement_is_reported(capsys):
    sys.path.insert(0, str(SCRIPT.parent))
    import agree_real_logs
    checks = agree_real_logs.Checks()
    checks.check("counts", [3, 2], [3, 2])
    checks.check("counts", [3, 2], [3, 1])
    checks.check("medians", [None, 60.0], [None, 60.0 + 1e-12], close=True)
    checks.check("medians", [None, 60.0], [None, 61.0], close=True)
    assert (checks.passed, checks.failed) == (2, 2)
    out = capsys.readouterr().out
    assert out.count("FAIL") == 2 and "reference: [3, 1]" in out
