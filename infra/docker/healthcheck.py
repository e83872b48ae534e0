"""Container health check: GET /healthz on this replica's own port, exit 0 when it answers 200.

``python healthcheck.py [VARIABLE]``: the port is the value of VARIABLE, the setting the service
listens on (compose.yaml names INGEST_PORT for ingest, CONSOLE_PORT for the console). Without one,
HEALTH_PORT (the consuming stages and history), else INGEST_PORT, else 8000. Standard library only,
so the check works even if the service's own imports are broken.
"""

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence


def health_port(environ: Mapping[str, str], argv: Sequence[str]) -> str:
    """The port to probe, from the variable named on the command line or the stages' defaults."""
    if argv:
        return environ.get(argv[0]) or ""
    return environ.get("HEALTH_PORT") or environ.get("INGEST_PORT") or "8000"


def main() -> None:
    port = health_port(os.environ, sys.argv[1:])
    if not port:
        print(f"healthcheck: {sys.argv[1]} is not set", file=sys.stderr)
        sys.exit(1)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as response:
            sys.exit(0 if response.status == 200 else 1)
    except (urllib.error.URLError, OSError):
        sys.exit(1)


if __name__ == "__main__":
    main()
