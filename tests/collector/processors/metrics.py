"""rotel metrics processor: appends each received resource-level batch as one
OTLP/JSON line to $COLLECTOR_OUT_DIR/metrics.jsonl: a whole export request
holding that one resource (see ../README.md).

rotel may run all processor files in one namespace, so this file defines no
module-level names besides process_metrics (and the shared import)."""

import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the repo
if os.path.dirname(os.path.abspath(__file__)) not in sys.path:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _otlp_json  # noqa: E402


def process_metrics(resource_metrics):
    _otlp_json.run_guarded(
        "process_metrics",
        lambda: _otlp_json.append_line(
            "metrics.jsonl", {"resourceMetrics": [_otlp_json.resource_metrics(resource_metrics)]}
        ),
    )
