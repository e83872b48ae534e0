"""Container health check: GET /healthz on this replica's own port, exit 0 when it answers 200.

Ingest serves it on INGEST_PORT; the consuming stages on HEALTH_PORT. Standard library only, so the
check works even if the service's own imports are broken.
"""

import os
import sys
import urllib.error
import urllib.request

port = os.environ.get("HEALTH_PORT") or os.environ.get("INGEST_PORT") or "8000"
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except (urllib.error.URLError, OSError):
    sys.exit(1)
