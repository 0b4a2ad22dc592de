"""Audit the locked dependencies for known vulnerabilities with pip-audit (`make audit`).

First a canary: pip-audit is asked about one pin with a published advisory. If the answer names
that advisory, the vulnerability service is reachable and working, and the real audit runs in
strict mode over `requirements/dev.txt` (a superset of the runtime lock): any known vulnerability,
or any locked package the service cannot look up, fails the step.

If the canary comes back clean, the service did not answer (an offline or mirror-only network).
An audit that cannot see advisories would report "no known vulnerabilities" and mean nothing, so
the script says plainly that nothing was audited. It exits 0 so offline CI can go on, or 3 with
`--require` (or `AUDIT_REQUIRED=1`), which is what a CI with internet access should use.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "dev.txt"
# The environment variable lets the tests stand in for the vulnerability service.
PIP_AUDIT = os.environ.get("PIP_AUDIT") or str(Path(sys.executable).parent / "pip-audit")

# Jinja2 2.10 has published advisories (sandbox escape, CVE-2019-10906, among others).
CANARY = "jinja2==2.10"

UNREACHABLE = 3


def canary_flagged(report: dict[str, Any]) -> bool:
    """True when a pip-audit JSON report lists at least one advisory for the canary pin."""
    for dependency in report.get("dependencies", []):
        if dependency.get("name") == CANARY.split("==")[0] and dependency.get("vulns"):
            return True
    return False


def service_answers() -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        canary = Path(tmp) / "canary.txt"
        canary.write_text(CANARY + "\n")
        run = subprocess.run(
            [PIP_AUDIT, "--disable-pip", "--no-deps", "--format", "json", "-r", str(canary)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    try:
        return canary_flagged(json.loads(run.stdout or "{}"))
    except json.JSONDecodeError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--require",
        action="store_true",
        default=os.environ.get("AUDIT_REQUIRED") == "1",
        help="fail when the vulnerability service cannot be reached",
    )
    args = parser.parse_args()

    if not service_answers():
        print(
            f"pip-audit: the vulnerability service did not flag the canary pin {CANARY}, so it is "
            "unreachable from here; NOTHING WAS AUDITED. Run `make audit` where the internet is reachable.",
            file=sys.stderr,
        )
        return UNREACHABLE if args.require else 0

    return subprocess.run(
        [PIP_AUDIT, "--strict", "--disable-pip", "--require-hashes", "-r", str(LOCK)],
        check=False,
    ).returncode


if __name__ == "__main__":
    sys.exit(main())
