"""rotel logs processor: appends each received resource-level batch as one
OTLP/JSON line to $COLLECTOR_OUT_DIR/logs.jsonl (see ../README.md)."""

import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the repo
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import _otlp_json  # noqa: E402


def _write(resource_logs):
    _otlp_json.append_line("logs.jsonl", _otlp_json.resource_logs(resource_logs))


def process_logs(resource_logs):
    _otlp_json.run_guarded("process_logs", _write, resource_logs)
