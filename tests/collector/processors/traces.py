"""rotel traces processor: appends each received resource-level batch as one
OTLP/JSON line to $COLLECTOR_OUT_DIR/traces.jsonl: a whole export request
holding that one resource (see ../README.md).

rotel may run all processor files in one namespace, so this file defines no
module-level names besides process_spans (and the shared import)."""

import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the repo
if os.path.dirname(os.path.abspath(__file__)) not in sys.path:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _otlp_json  # noqa: E402


def process_spans(resource_spans):
    _otlp_json.run_guarded(
        "process_spans",
        lambda: _otlp_json.append_line(
            "traces.jsonl", {"resourceSpans": [_otlp_json.resource_spans(resource_spans)]}
        ),
    )
