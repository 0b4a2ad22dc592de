"""`make dev`: database, migrations, then the app with auto-reload and an in-process worker.

Without DATABASE_URL an embedded PostgreSQL starts under `.dev/pg` and stops again when you press
Ctrl-C. Everything is safe to interrupt at any point; the next run picks up where this one left.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dotenv import dotenv_values  # noqa: E402

from scripts.embedded_pg import resolve_database_url  # noqa: E402

BIN = Path(sys.executable).parent


def main() -> int:
    """Prepare the environment, migrate, and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()

    started = time.monotonic()
    configured = {**dotenv_values(ROOT / ".env"), **os.environ}
    env = dict(os.environ)
    env.setdefault("APP_ENV", str(configured.get("APP_ENV") or "dev"))
    env.setdefault("BASE_URL", str(configured.get("BASE_URL") or f"http://{args.host}:{args.port}"))
    embedded = not configured.get("DATABASE_URL")
    env["DATABASE_URL"] = resolve_database_url("gatehouse") if embedded else str(configured["DATABASE_URL"])

    subprocess.run([str(BIN / "alembic"), "upgrade", "heads"], env=env, cwd=ROOT, check=True)

    base_url = env["BASE_URL"]
    print(
        f"\n  Gatehouse is starting ({time.monotonic() - started:.1f}s to get here)\n"
        f"    app:          {base_url}/\n"
        f"    dev mailbox:  {base_url}/dev/mailbox\n"
        f"    database:     {'embedded PostgreSQL in .dev/pg' if embedded else 'DATABASE_URL'}\n"
        f"  Press Ctrl-C to stop.\n",
        flush=True,
    )
    command = [
        str(BIN / "granian"), "--interface", "asgi", "--factory", "app.asgi:create_app",
        "--host", args.host, "--port", str(args.port), "--no-access-log",
        "--reload", "--reload-paths", "app", "--reload-paths", "templates", "--reload-paths", "static",
    ]  # fmt: skip
    server = subprocess.Popen(command, env=env, cwd=ROOT)
    # Ctrl-C reaches the server through the terminal's process group; we only wait for it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    code = server.wait()
    print("\n  Gatehouse stopped." + (" The embedded database is shutting down." if embedded else ""))
    return 0 if code in (0, -signal.SIGINT, 130) else code


if __name__ == "__main__":
    raise SystemExit(main())
