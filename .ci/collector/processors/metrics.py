"""rotel metrics processor: appends each received resource-level batch as one
OTLP/JSON line to $COLLECTOR_OUT_DIR/metrics.jsonl (see ../README.md)."""

import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the repo
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import _otlp_json  # noqa: E402


def _write(resource_metrics):
    _otlp_json.append_line("metrics.jsonl", _otlp_json.resource_metrics(resource_metrics))


def process_metrics(resource_metrics):
    _otlp_json.run_guarded("process_metrics", _write, resource_metrics)
