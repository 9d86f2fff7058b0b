#!/usr/bin/env python3
"""Request bodies and checks for smoke.sh (standard library only).

usage:
  smoke_check.py bodies <dir>   write the OTLP/JSON request bodies into <dir>
  smoke_check.py wait <out_dir> wait (<= 10 s) until every expected item arrived
  smoke_check.py check <out_dir> verify the JSON lines the processors wrote
"""

import json
import os
import sys
import time

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT_SPAN = "00f067aa0ba902b7"
CHILD_SPAN = "b7ad6b7169203331"
T0 = 1700000000000000000  # ns


def ns(offset_ms):
    return str(T0 + offset_ms * 1_000_000)


RESOURCE = {
    "attributes": [
        {"key": "service.name", "value": {"stringValue": "smoke-test"}},
        {"key": "service.instance.port", "value": {"intValue": "8080"}},
    ]
}
SCOPE = {"name": "telemetry-smoke", "version": "0.1.0"}


def traces(prefix):
    return {"resourceSpans": [{
        "resource": RESOURCE,
        "scopeSpans": [{
            "scope": SCOPE,
            "spans": [
                {
                    "traceId": TRACE_ID, "spanId": ROOT_SPAN, "parentSpanId": "",
                    "name": prefix + ".root", "kind": 2,
                    "startTimeUnixNano": ns(0), "endTimeUnixNano": ns(50),
                    "attributes": [{"key": "http.route", "value": {"stringValue": "/consent"}}],
                    "status": {"code": 1},
                },
                {
                    "traceId": TRACE_ID, "spanId": CHILD_SPAN, "parentSpanId": ROOT_SPAN,
                    "name": prefix + ".child", "kind": 3,
                    "startTimeUnixNano": ns(10), "endTimeUnixNano": ns(40),
                    "attributes": [
                        {"key": "user.region", "value": {"stringValue": "eu"}},
                        {"key": "retry.count", "value": {"intValue": "3"}},
                        {"key": "sample.ratio", "value": {"doubleValue": 0.25}},
                        {"key": "whole.double", "value": {"doubleValue": 2.0}},
                        {"key": "consent.granted", "value": {"boolValue": True}},
                    ],
                    "events": [{
                        "timeUnixNano": ns(20), "name": "consent.checked",
                        "attributes": [{"key": "purpose", "value": {"stringValue": "analytics"}}],
                    }],
                    "status": {"code": 2, "message": "denied"},
                },
            ],
        }],
    }]}


def logs(prefix):
    return {"resourceLogs": [{
        "resource": RESOURCE,
        "scopeLogs": [{
            "scope": SCOPE,
            "logRecords": [{
                "timeUnixNano": ns(30), "observedTimeUnixNano": ns(31),
                "severityNumber": 13, "severityText": "WARN",
                "eventName": prefix + ".consent.changed",
                "body": {"stringValue": "consent withdrawn"},
                "attributes": [
                    {"key": "consent.purpose", "value": {"stringValue": "analytics"}},
                    {"key": "consent.version", "value": {"intValue": "2"}},
                ],
                "traceId": TRACE_ID, "spanId": CHILD_SPAN,
            }],
        }],
    }]}


def metrics(prefix, spec_strings):
    """spec_strings=True writes asInt/count/bucketCounts as decimal strings
    (what the OTLP/JSON spec and opentelemetry-proto's serde emit);
    False writes them as JSON numbers (what rotel's JSON decoder needs)."""
    q = (lambda n: str(n)) if spec_strings else (lambda n: n)
    return {"resourceMetrics": [{
        "resource": RESOURCE,
        "scopeMetrics": [{
            "scope": SCOPE,
            "metrics": [
                {
                    "name": prefix + ".requests", "description": "Handled requests", "unit": "{request}",
                    "sum": {
                        "aggregationTemporality": 2, "isMonotonic": True,
                        "dataPoints": [{
                            "attributes": [{"key": "http.route", "value": {"stringValue": "/consent"}}],
                            "startTimeUnixNano": ns(0), "timeUnixNano": ns(60),
                            "asInt": q(7),
                        }],
                    },
                },
                {
                    "name": prefix + ".latency", "description": "Request latency", "unit": "ms",
                    "histogram": {
                        "aggregationTemporality": 1,
                        "dataPoints": [{
                            "attributes": [{"key": "http.route", "value": {"stringValue": "/consent"}}],
                            "startTimeUnixNano": ns(0), "timeUnixNano": ns(60),
                            "count": q(4), "sum": 10.5,
                            "bucketCounts": [q(1), q(2), q(1)], "explicitBounds": [1.0, 5.0],
                            "min": 0.5, "max": 6.0,
                        }],
                    },
                },
                {
                    "name": prefix + ".temperature", "unit": "Cel",
                    "gauge": {"dataPoints": [{"startTimeUnixNano": ns(0), "timeUnixNano": ns(60), "asDouble": 21.5}]},
                },
            ],
        }],
    }]}


BODIES = {
    "traces.json": traces("smoke.json"),
    "logs.json": logs("smoke.json"),
    "metrics.json": metrics("smoke.json", spec_strings=False),
    # sent as OTLP/protobuf over HTTP (x-protobuf) and over gRPC:
    "traces_pb.json": traces("smoke.pb"),
    "logs_pb.json": logs("smoke.pb"),
    "metrics_pb.json": metrics("smoke.pb", spec_strings=True),
    "traces_grpc.json": traces("smoke.grpc"),
    "logs_grpc.json": logs("smoke.grpc"),
    "metrics_grpc.json": metrics("smoke.grpc", spec_strings=True),
    # OTLP/JSON with spec-style string int64s: documents rotel's quirk
    "metrics_quirk.json": metrics("smoke.quirk", spec_strings=True),
}

PREFIXES = ("smoke.json", "smoke.pb", "smoke.grpc")


def read_jsonl(out_dir, name):
    path = os.path.join(out_dir, name)
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def resources(out_dir, name, key):
    """Each line is one export request holding exactly one resource."""
    out = []
    for req in read_jsonl(out_dir, name):
        expect(list(req) == [key] and len(req[key]) == 1, "%s: line is not {%r: [one resource]}" % (name, key))
        out.extend(req.get(key, []))
    return out


def spans_by_name(out_dir):
    found = {}
    for rs in resources(out_dir, "traces.jsonl", "resourceSpans"):
        for ss in rs["scopeSpans"]:
            for sp in ss["spans"]:
                found[sp["name"]] = (rs, ss, sp)
    return found


def logs_by_event(out_dir):
    found = {}
    for rl in resources(out_dir, "logs.jsonl", "resourceLogs"):
        for sl in rl["scopeLogs"]:
            for lr in sl["logRecords"]:
                found[lr["eventName"]] = (rl, sl, lr)
    return found


def metrics_by_name(out_dir):
    found = {}
    for rm in resources(out_dir, "metrics.jsonl", "resourceMetrics"):
        for sm in rm["scopeMetrics"]:
            for m in sm["metrics"]:
                found[m["name"]] = (rm, sm, m)
    return found


def expected_names():
    spans = [p + s for p in PREFIXES for s in (".root", ".child")]
    events = [p + ".consent.changed" for p in PREFIXES]
    metric_names = [p + s for p in PREFIXES + ("smoke.quirk",) for s in (".requests", ".latency", ".temperature")]
    return spans, events, metric_names


def missing(out_dir):
    spans, events, metric_names = expected_names()
    s, l, m = spans_by_name(out_dir), logs_by_event(out_dir), metrics_by_name(out_dir)
    return [n for n in spans if n not in s] + [n for n in events if n not in l] + [n for n in metric_names if n not in m]


FAILURES = []


def expect(cond, what):
    if not cond:
        FAILURES.append(what)


def attrs(kvs):
    return {kv["key"]: kv["value"] for kv in kvs}


def check_resource_scope(tag, res, scope):
    a = attrs(res["attributes"])
    expect(a.get("service.name") == {"stringValue": "smoke-test"}, tag + ": resource service.name")
    expect(a.get("service.instance.port") == {"intValue": "8080"}, tag + ": resource int attribute")
    expect(scope["name"] == "telemetry-smoke" and scope["version"] == "0.1.0", tag + ": scope name/version %r" % scope)


def check_traces(out_dir, prefix):
    found = spans_by_name(out_dir)
    rs, ss, root = found[prefix + ".root"]
    _, _, child = found[prefix + ".child"]
    check_resource_scope(prefix + " traces", rs["resource"], ss["scope"])
    expect(root["traceId"] == TRACE_ID and root["spanId"] == ROOT_SPAN and root["parentSpanId"] == "", prefix + ": root ids %r" % root)
    expect(root["kind"] == 2 and root["status"]["code"] == 1, prefix + ": root kind/status")
    expect(child["traceId"] == TRACE_ID and child["spanId"] == CHILD_SPAN and child["parentSpanId"] == ROOT_SPAN,
           prefix + ": child ids")
    expect(child["kind"] == 3, prefix + ": child kind")
    expect(child["status"] == {"code": 2, "message": "denied"}, prefix + ": child status %r" % child["status"])
    expect(child["startTimeUnixNano"] == ns(10) and child["endTimeUnixNano"] == ns(40), prefix + ": child times")
    a = attrs(child["attributes"])
    expect(a.get("user.region") == {"stringValue": "eu"}, prefix + ": string attribute %r" % a.get("user.region"))
    expect(a.get("retry.count") == {"intValue": "3"}, prefix + ": int attribute %r" % a.get("retry.count"))
    expect(a.get("sample.ratio") == {"doubleValue": 0.25}, prefix + ": double attribute %r" % a.get("sample.ratio"))
    wd = a.get("whole.double", {})
    expect(list(wd) == ["doubleValue"] and isinstance(wd["doubleValue"], float) and wd["doubleValue"] == 2.0,
           prefix + ": 2.0 stays a double %r" % wd)
    expect(a.get("consent.granted") == {"boolValue": True}, prefix + ": bool attribute %r" % a.get("consent.granted"))
    ev = child["events"]
    expect(len(ev) == 1 and ev[0]["name"] == "consent.checked" and ev[0]["timeUnixNano"] == ns(20)
           and attrs(ev[0]["attributes"]).get("purpose") == {"stringValue": "analytics"}, prefix + ": event %r" % ev)


def check_logs(out_dir, prefix):
    rl, sl, lr = logs_by_event(out_dir)[prefix + ".consent.changed"]
    check_resource_scope(prefix + " logs", rl["resource"], sl["scope"])
    expect(lr["timeUnixNano"] == ns(30) and lr["observedTimeUnixNano"] == ns(31), prefix + ": log times")
    expect(lr["severityNumber"] == 13 and lr["severityText"] == "WARN", prefix + ": severity")
    expect(lr.get("body") == {"stringValue": "consent withdrawn"}, prefix + ": body %r" % lr.get("body"))
    a = attrs(lr["attributes"])
    expect(a.get("consent.purpose") == {"stringValue": "analytics"} and a.get("consent.version") == {"intValue": "2"},
           prefix + ": log attributes %r" % a)
    expect(lr["traceId"] == TRACE_ID and lr["spanId"] == CHILD_SPAN, prefix + ": log ids")


def check_metrics(out_dir, prefix):
    found = metrics_by_name(out_dir)
    rm, sm, s = found[prefix + ".requests"]
    check_resource_scope(prefix + " metrics", rm["resource"], sm["scope"])
    expect(s["description"] == "Handled requests" and s["unit"] == "{request}", prefix + ": sum description/unit")
    expect("sum" in s, prefix + ": sum kind missing: %r" % s)
    if "sum" in s:
        expect(s["sum"]["isMonotonic"] is True and s["sum"]["aggregationTemporality"] == 2, prefix + ": sum flags")
        dp = s["sum"]["dataPoints"]
        expect(len(dp) == 1 and dp[0].get("asInt") == "7" and "asDouble" not in dp[0], prefix + ": sum value %r" % dp)
        expect(dp and attrs(dp[0]["attributes"]).get("http.route") == {"stringValue": "/consent"}, prefix + ": sum attrs")
        expect(dp and dp[0]["timeUnixNano"] == ns(60) and dp[0]["startTimeUnixNano"] == ns(0), prefix + ": sum times")
    _, _, h = found[prefix + ".latency"]
    expect(h["unit"] == "ms", prefix + ": histogram unit")
    expect("histogram" in h, prefix + ": histogram kind missing: %r" % h)
    if "histogram" in h:
        expect(h["histogram"]["aggregationTemporality"] == 1, prefix + ": histogram temporality")
        dp = h["histogram"]["dataPoints"]
        expect(len(dp) == 1, prefix + ": histogram points")
        if dp:
            d = dp[0]
            expect(d["count"] == "4" and d["sum"] == 10.5, prefix + ": histogram count/sum %r" % d)
            expect(d["bucketCounts"] == ["1", "2", "1"] and d["explicitBounds"] == [1.0, 5.0], prefix + ": buckets %r" % d)
            expect(d.get("min") == 0.5 and d.get("max") == 6.0, prefix + ": min/max")
    _, _, g = found[prefix + ".temperature"]
    expect("gauge" in g and g["gauge"]["dataPoints"][0].get("asDouble") == 21.5, prefix + ": gauge %r" % g)


def quirk_report(out_dir):
    found = metrics_by_name(out_dir)
    _, _, s = found["smoke.quirk.requests"]
    _, _, h = found["smoke.quirk.latency"]
    sum_value = s.get("sum", {}).get("dataPoints", [{}])[0].get("asInt") if "sum" in s else None
    print("  OTLP/JSON with \"asInt\":\"7\" (string)  -> sum value %s" %
          ("kept (%s)" % sum_value if sum_value else "DROPPED (data point has no value)"))
    print("  OTLP/JSON with \"count\":\"4\" (string)  -> histogram %s" %
          ("kept" if "histogram" in h else "DROPPED (metric has no data)"))


def main():
    cmd, arg = sys.argv[1], sys.argv[2]
    if cmd == "bodies":
        os.makedirs(arg, exist_ok=True)
        for name, body in BODIES.items():
            with open(os.path.join(arg, name), "w", encoding="utf-8") as f:
                json.dump(body, f)
        return 0
    if cmd == "wait":
        deadline = time.time() + 10
        while time.time() < deadline:
            if not missing(arg):
                return 0
            time.sleep(0.1)
        print("smoke: never arrived: %s" % ", ".join(missing(arg)), file=sys.stderr)
        return 1
    if cmd == "check":
        for prefix in PREFIXES:
            check_traces(arg, prefix)
            check_logs(arg, prefix)
            check_metrics(arg, prefix)
        print("rotel OTLP/JSON decoding quirk (HTTP 200 either way):")
        quirk_report(arg)
        err = os.path.join(arg, "processor-errors.log")
        if os.path.exists(err) and os.path.getsize(err):
            FAILURES.append("processor errors:\n" + open(err).read())
        for f in FAILURES:
            print("FAIL: " + f, file=sys.stderr)
        return 1 if FAILURES else 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
