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
        "lines, total 7,933.90, Active / Billed",  # the posted invoice, in Sales
        "the invoice is Paid / Partial; account statistics: balance 5,950.43",
        "the invoice is Paid / Complete; account statistics: balance 0.00",
        "item 1896-S: available",
        "Done: every part was stopped.",
    ):
        assert expected in out, out
    assert "error SALES" not in out and "error POSTED" not in out, out  # no document failed
    assert "error CUSTOMER" not in out, out
