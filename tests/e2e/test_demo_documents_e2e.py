"""The lead-to-cash demo (the third story of ``scripts/demo.sh``) runs as a newcomer runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_lead_to_cash_demo_tells_its_story() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sandbox.demo_documents"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for expected in (
        "(Dataverse called the webhook)",
        "archived (version 1) and updated: 6 desks",
        "Quote No. S-QUO",
        "the CRM order is Invoiced (state 4)",
        "timeline: An invoice has been created for the order.",
        "Done: every part was stopped.",
    ):
        assert expected in out, out
    assert "error SALES" not in out, out  # no sales document failed
