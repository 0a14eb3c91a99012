"""The container's health check: GET http://127.0.0.1:$GATEWAY_PORT/healthz must answer 200 within 4 s.

Run by the image's HEALTHCHECK (``python /opt/gateway/healthcheck.py``); exit 0 when healthy, 1 otherwise. Only the
standard library: it runs in the image as it is. ``/healthz`` keeps a reserve of connections when the gateway is at
its connection cap (GATEWAY_HEALTHZ_RESERVE), so a busy gateway is not reported dead.
"""

import os
import sys
import urllib.request

port = os.environ.get("GATEWAY_PORT", "8080")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as answer:  # noqa: S310
        sys.exit(0 if answer.status == 200 else 1)
except OSError as exc:
    print(f"healthz: {exc}", file=sys.stderr)
    sys.exit(1)
