# SPDX-License-Identifier: Apache-2.0
"""Healthcheck for the Pipelines container of docker-compose.yml: healthy once the filter is loaded.

The Pipelines server moves a pipeline that fails to import into ``PIPELINES_DIR/failed/`` and carries on, so
"the server answers" is not enough. This exits 0 only when ``GET /pipelines`` lists every id given::

    python pipelines_healthcheck.py otel_filter_pipeline

Runs inside the Pipelines image (Python 3.11, standard library only); reads ``PIPELINES_API_KEY`` and ``PORT``.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request


def main(argv: list[str]) -> int:
    wanted = set(argv[1:])
    port = os.environ.get("PORT", "9099")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/pipelines",
        headers={"Authorization": f"Bearer {os.environ.get('PIPELINES_API_KEY', '')}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=4) as response:
            listed = {item.get("id") for item in json.load(response).get("data", [])}
    except Exception as exc:  # any failure means "not healthy yet"; the message shows in `docker inspect`
        print(f"pipelines not ready: {exc}", file=sys.stderr)
        return 1
    missing = sorted(wanted - listed)
    if missing:
        print(f"pipelines missing (see PIPELINES_DIR/failed/ and the container log): {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
