"""Run a command with DATABASE_URL set: the caller's, or the embedded server's (started for it).

    python scripts/with_db.py [--database NAME] -- COMMAND [ARGS...]

Used by `make migrate`, `make migration`, `make worker` and `make serve`. The embedded server stays
up while the command runs and stops when the last process using it exits. With the embedded server
APP_ENV defaults to `dev` (it is a developer's machine); with DATABASE_URL set nothing is assumed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.embedded_pg import resolve_database_url


def main() -> int:
    """Parse arguments, provide a database, run the command, pass on its exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="gatehouse", help="database name on the embedded server")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    env = dict(os.environ)
    if not env.get("DATABASE_URL"):
        # The embedded database only exists on a developer's machine: never production settings.
        env.setdefault("APP_ENV", "dev")
    env["DATABASE_URL"] = resolve_database_url(args.database)
    process = subprocess.Popen(command, env=env)
    # Ctrl-C reaches the child through the terminal; wait for it to finish cleanly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    return process.wait()


if __name__ == "__main__":
    raise SystemExit(main())
