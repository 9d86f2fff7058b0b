"""Shared helpers for the rotel processors in this folder.

Converts rotel's Python object model (module ``rotel_sdk``, built into the
rotel-agent binary) into OTLP/JSON (lowerCamelCase field names, trace/span ids
as lower-case hex, 64-bit integers as decimal strings, enums as numbers) and
appends one JSON line per resource-level object to a file in the directory
named by the environment variable COLLECTOR_OUT_DIR.

The processors write every line as a whole OTLP/JSON export request holding
exactly one resource: {"resourceSpans": [<ResourceSpans>]} (likewise
resourceLogs / resourceMetrics).
"""

import base64
import json
import math
import os
import sys
import threading
import traceback

_LOCK = threading.Lock()


def out_dir():
    return os.environ.get("COLLECTOR_OUT_DIR") or os.getcwd()


def append_line(file_name, obj):
    """Appends obj as one JSON line to <out_dir>/<file_name>, flushed at once."""
    line = json.dumps(obj, separators=(",", ":"), allow_nan=False) + "\n"
    path = os.path.join(out_dir(), file_name)
    with _LOCK:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()


def report_error(where):
    """Records a processor exception without letting it reach rotel."""
    text = "%s: %s" % (where, traceback.format_exc())
    try:
        with _LOCK:
            with open(os.path.join(out_dir(), "processor-errors.log"), "a", encoding="utf-8") as f:
                f.write(text + "\n")
                f.flush()
    except Exception:
        pass
    sys.stderr.write(text + "\n")


def run_guarded(where, fn, *args):
    try:
        fn(*args)
    except Exception:
        report_error(where)


# ---------------------------------------------------------------- scalars

def g(obj, name, default=None):
    """getattr that tolerates attributes missing in this rotel version."""
    try:
        value = getattr(obj, name)
    except Exception:
        return default
    return default if value is None else value


def hex_id(value):
    if not value:
        return ""
    return bytes(value).hex()


def u64(value):
    """OTLP/JSON encodes (s)fixed64/(u)int64 as decimal strings."""
    return str(int(value or 0))


def double(value):
    """OTLP/JSON doubles; NaN/Infinity are strings per proto3 JSON."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def enum_int(value, default=0):
    if value is None:
        return default
    try:
        return int(value)
    except Exception:
        return default


# ---------------------------------------------------------------- common.v1

def any_value(av):
    """rotel AnyValue (or a plain Python value) -> OTLP/JSON AnyValue."""
    if av is None:
        return {}
    v = g(av, "value") if type(av).__name__ == "AnyValue" else av
    if v is None:
        return {}
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": double(v)}
    if isinstance(v, str):
        return {"stringValue": v}
    if isinstance(v, (bytes, bytearray)):
        return {"bytesValue": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, list) and all(isinstance(x, int) and 0 <= x <= 255 for x in v):
        # rotel returns a bytesValue as a plain list of ints (an arrayValue
        # comes as an ArrayValue object instead).
        return {"bytesValue": base64.b64encode(bytes(v)).decode("ascii")}
    type_name = type(v).__name__
    if type_name == "AnyValue":
        return any_value(v)
    if type_name == "KeyValueList" or type_name.startswith("KeyValueList"):
        return {"kvlistValue": {"values": key_values(v)}}
    # ArrayValue (or any other iterable of values)
    try:
        return {"arrayValue": {"values": [any_value(x) for x in v]}}
    except TypeError:
        return {"stringValue": str(v)}


def key_value(kv):
    out = {"key": g(kv, "key", "")}
    val = g(kv, "value")
    out["value"] = any_value(val)
    return out


def key_values(kvs):
    if kvs is None:
        return []
    return [key_value(kv) for kv in kvs]


def resource(res):
    if res is None:
        return {"attributes": [], "droppedAttributesCount": 0}
    return {
        "attributes": key_values(g(res, "attributes")),
        "droppedAttributesCount": int(g(res, "dropped_attributes_count", 0)),
    }


def scope(sc):
    if sc is None:
        return {"name": "", "version": "", "attributes": [], "droppedAttributesCount": 0}
    return {
        "name": g(sc, "name", ""),
        "version": g(sc, "version", ""),
        "attributes": key_values(g(sc, "attributes")),
        "droppedAttributesCount": int(g(sc, "dropped_attributes_count", 0)),
    }


# ---------------------------------------------------------------- trace.v1

def span(sp):
    status = g(sp, "status")
    return {
        "traceId": hex_id(g(sp, "trace_id")),
        "spanId": hex_id(g(sp, "span_id")),
        "traceState": g(sp, "trace_state", ""),
        "parentSpanId": hex_id(g(sp, "parent_span_id")),
        "flags": int(g(sp, "flags", 0)),
        "name": g(sp, "name", ""),
        "kind": enum_int(g(sp, "kind")),
        "startTimeUnixNano": u64(g(sp, "start_time_unix_nano", 0)),
        "endTimeUnixNano": u64(g(sp, "end_time_unix_nano", 0)),
        "attributes": key_values(g(sp, "attributes")),
        "droppedAttributesCount": int(g(sp, "dropped_attributes_count", 0)),
        "events": [
            {
                "timeUnixNano": u64(g(ev, "time_unix_nano", 0)),
                "name": g(ev, "name", ""),
                "attributes": key_values(g(ev, "attributes")),
                "droppedAttributesCount": int(g(ev, "dropped_attributes_count", 0)),
            }
            for ev in (g(sp, "events") or [])
        ],
        "droppedEventsCount": int(g(sp, "dropped_events_count", 0)),
        "links": [
            {
                "traceId": hex_id(g(ln, "trace_id")),
                "spanId": hex_id(g(ln, "span_id")),
                "traceState": g(ln, "trace_state", ""),
                "attributes": key_values(g(ln, "attributes")),
                "droppedAttributesCount": int(g(ln, "dropped_attributes_count", 0)),
                "flags": int(g(ln, "flags", 0)),
            }
            for ln in (g(sp, "links") or [])
        ],
        "droppedLinksCount": int(g(sp, "dropped_links_count", 0)),
        "status": {
            "message": g(status, "message", "") if status is not None else "",
            "code": enum_int(g(status, "code")) if status is not None else 0,
        },
    }


def _resource_group(r, scoped_json, scoped_src, items_json, items_src, item):
    """A ResourceSpans/ResourceLogs/ResourceMetrics: the resource, then per
    scope its items converted by `item`."""
    return {
        "resource": resource(g(r, "resource")),
        scoped_json: [
            {
                "scope": scope(g(sc, "scope")),
                items_json: [item(x) for x in (g(sc, items_src) or [])],
                "schemaUrl": g(sc, "schema_url", ""),
            }
            for sc in (g(r, scoped_src) or [])
        ],
        "schemaUrl": g(r, "schema_url", ""),
    }


def resource_spans(rs):
    return _resource_group(rs, "scopeSpans", "scope_spans", "spans", "spans", span)


# ---------------------------------------------------------------- logs.v1

def log_record(lr):
    out = {
        "timeUnixNano": u64(g(lr, "time_unix_nano", 0)),
        "observedTimeUnixNano": u64(g(lr, "observed_time_unix_nano", 0)),
        "severityNumber": enum_int(g(lr, "severity_number")),
        "severityText": g(lr, "severity_text", ""),
    }
    body = g(lr, "body")
    if body is not None:
        out["body"] = any_value(body)
    out.update({
        "attributes": key_values(g(lr, "attributes")),
        "droppedAttributesCount": int(g(lr, "dropped_attributes_count", 0)),
        "flags": int(g(lr, "flags", 0)),
        "traceId": hex_id(g(lr, "trace_id")),
        "spanId": hex_id(g(lr, "span_id")),
        "eventName": g(lr, "event_name", ""),
    })
    return out


def resource_logs(rl):
    return _resource_group(rl, "scopeLogs", "scope_logs", "logRecords", "log_records", log_record)


# ---------------------------------------------------------------- metrics.v1

def _union_inner(u):
    """rotel exposes protobuf oneofs as classes like NumberDataPointValue_AsInt
    whose payload is the attribute `_0`."""
    inner = g(u, "_0")
    if inner is None:
        try:
            inner = u[0]
        except Exception:
            inner = None
    return inner


def _number_value(out, value, prefix_int="asInt", prefix_double="asDouble"):
    if value is None:
        return
    type_name = type(value).__name__
    inner = _union_inner(value)
    if inner is None:
        return
    if type_name.endswith("_AsInt") or (isinstance(inner, int) and not isinstance(inner, bool)):
        out[prefix_int] = str(int(inner))
    else:
        out[prefix_double] = double(inner)


def exemplar(ex):
    out = {
        "filteredAttributes": key_values(g(ex, "filtered_attributes")),
        "timeUnixNano": u64(g(ex, "time_unix_nano", 0)),
        "spanId": hex_id(g(ex, "span_id")),
        "traceId": hex_id(g(ex, "trace_id")),
    }
    _number_value(out, g(ex, "value"))
    return out


def _exemplars(dp):
    return [exemplar(ex) for ex in (g(dp, "exemplars") or [])]


def number_data_point(dp):
    out = {
        "attributes": key_values(g(dp, "attributes")),
        "startTimeUnixNano": u64(g(dp, "start_time_unix_nano", 0)),
        "timeUnixNano": u64(g(dp, "time_unix_nano", 0)),
    }
    _number_value(out, g(dp, "value"))
    out["exemplars"] = _exemplars(dp)
    out["flags"] = int(g(dp, "flags", 0))
    return out


def _opt_double(out, key, value):
    if value is not None:
        out[key] = double(value)


def histogram_data_point(dp):
    out = {
        "attributes": key_values(g(dp, "attributes")),
        "startTimeUnixNano": u64(g(dp, "start_time_unix_nano", 0)),
        "timeUnixNano": u64(g(dp, "time_unix_nano", 0)),
        "count": u64(g(dp, "count", 0)),
    }
    _opt_double(out, "sum", g(dp, "sum"))
    out["bucketCounts"] = [u64(c) for c in (g(dp, "bucket_counts") or [])]
    out["explicitBounds"] = [double(b) for b in (g(dp, "explicit_bounds") or [])]
    out["exemplars"] = _exemplars(dp)
    out["flags"] = int(g(dp, "flags", 0))
    _opt_double(out, "min", g(dp, "min"))
    _opt_double(out, "max", g(dp, "max"))
    return out


def _buckets(b):
    return {
        "offset": int(g(b, "offset", 0)),
        "bucketCounts": [u64(c) for c in (g(b, "bucket_counts") or [])],
    }


def exponential_histogram_data_point(dp):
    out = {
        "attributes": key_values(g(dp, "attributes")),
        "startTimeUnixNano": u64(g(dp, "start_time_unix_nano", 0)),
        "timeUnixNano": u64(g(dp, "time_unix_nano", 0)),
        "count": u64(g(dp, "count", 0)),
    }
    _opt_double(out, "sum", g(dp, "sum"))
    out["scale"] = int(g(dp, "scale", 0))
    out["zeroCount"] = u64(g(dp, "zero_count", 0))
    for side in ("positive", "negative"):
        b = g(dp, side)
        if b is not None:
            out[side] = _buckets(b)
    out["flags"] = int(g(dp, "flags", 0))
    out["exemplars"] = _exemplars(dp)
    _opt_double(out, "min", g(dp, "min"))
    _opt_double(out, "max", g(dp, "max"))
    out["zeroThreshold"] = double(g(dp, "zero_threshold", 0.0))
    return out


def summary_data_point(dp):
    out = {
        "attributes": key_values(g(dp, "attributes")),
        "startTimeUnixNano": u64(g(dp, "start_time_unix_nano", 0)),
        "timeUnixNano": u64(g(dp, "time_unix_nano", 0)),
        "count": u64(g(dp, "count", 0)),
        "sum": double(g(dp, "sum", 0.0)),
        "quantileValues": [
            {"quantile": double(g(q, "quantile", 0.0)), "value": double(g(q, "value", 0.0))}
            for q in (g(dp, "quantile_values") or [])
        ],
        "flags": int(g(dp, "flags", 0)),
    }
    return out


def metric(m):
    out = {
        "name": g(m, "name", ""),
        "description": g(m, "description", ""),
        "unit": g(m, "unit", ""),
        "metadata": key_values(g(m, "metadata")),
    }
    data = g(m, "data")
    if data is None:
        # rotel had no data for this metric (see README: OTLP/JSON quirks).
        return out
    kind = type(data).__name__.split("_", 1)[-1]  # MetricData_Sum -> Sum
    inner = _union_inner(data)
    if inner is None:
        return out
    temporality = g(inner, "aggregation_temporality")
    if kind == "Gauge":
        out["gauge"] = {"dataPoints": [number_data_point(dp) for dp in (g(inner, "data_points") or [])]}
    elif kind == "Sum":
        out["sum"] = {
            "dataPoints": [number_data_point(dp) for dp in (g(inner, "data_points") or [])],
            "aggregationTemporality": enum_int(temporality),
            "isMonotonic": bool(g(inner, "is_monotonic", False)),
        }
    elif kind == "Histogram":
        out["histogram"] = {
            "dataPoints": [histogram_data_point(dp) for dp in (g(inner, "data_points") or [])],
            "aggregationTemporality": enum_int(temporality),
        }
    elif kind == "ExponentialHistogram":
        out["exponentialHistogram"] = {
            "dataPoints": [exponential_histogram_data_point(dp) for dp in (g(inner, "data_points") or [])],
            "aggregationTemporality": enum_int(temporality),
        }
    elif kind == "Summary":
        out["summary"] = {"dataPoints": [summary_data_point(dp) for dp in (g(inner, "data_points") or [])]}
    return out


def resource_metrics(rm):
    return _resource_group(rm, "scopeMetrics", "scope_metrics", "metrics", "metrics", metric)
