#!/usr/bin/env python3
"""Encodes an OTLP/JSON export request as OTLP protobuf, with the standard
library only (used by smoke.sh to test the collector's protobuf and gRPC paths).

usage: otlp_json2pb.py traces|logs|metrics [--grpc] < request.json > request.bin

--grpc wraps the message in a gRPC length-prefixed frame (uncompressed).
Covers the OTLP fields the smoke test uses and most others; unknown JSON
fields are an error so that a typo does not silently drop data.
"""

import base64
import json
import struct
import sys

# field type tags
STR, BYTES_HEX, BYTES_B64, BOOL, INT64, UINT, SINT32, ENUM = "str", "hex", "b64", "bool", "int64", "uint", "sint32", "enum"
FIXED64, SFIXED64, FIXED32, DOUBLE = "fixed64", "sfixed64", "fixed32", "double"

# message -> {jsonName: (fieldNumber, type or message name, repeated)}
SCHEMA = {
    "AnyValue": {
        "stringValue": (1, STR, False), "boolValue": (2, BOOL, False), "intValue": (3, INT64, False),
        "doubleValue": (4, DOUBLE, False), "arrayValue": (5, "ArrayValue", False),
        "kvlistValue": (6, "KeyValueList", False), "bytesValue": (7, BYTES_B64, False),
    },
    "ArrayValue": {"values": (1, "AnyValue", True)},
    "KeyValueList": {"values": (1, "KeyValue", True)},
    "KeyValue": {"key": (1, STR, False), "value": (2, "AnyValue", False)},
    "InstrumentationScope": {
        "name": (1, STR, False), "version": (2, STR, False), "attributes": (3, "KeyValue", True),
        "droppedAttributesCount": (4, UINT, False),
    },
    "Resource": {"attributes": (1, "KeyValue", True), "droppedAttributesCount": (2, UINT, False)},
    # traces
    "ExportTraceServiceRequest": {"resourceSpans": (1, "ResourceSpans", True)},
    "ResourceSpans": {"resource": (1, "Resource", False), "scopeSpans": (2, "ScopeSpans", True), "schemaUrl": (3, STR, False)},
    "ScopeSpans": {"scope": (1, "InstrumentationScope", False), "spans": (2, "Span", True), "schemaUrl": (3, STR, False)},
    "Span": {
        "traceId": (1, BYTES_HEX, False), "spanId": (2, BYTES_HEX, False), "traceState": (3, STR, False),
        "parentSpanId": (4, BYTES_HEX, False), "flags": (16, FIXED32, False), "name": (5, STR, False),
        "kind": (6, ENUM, False), "startTimeUnixNano": (7, FIXED64, False), "endTimeUnixNano": (8, FIXED64, False),
        "attributes": (9, "KeyValue", True), "droppedAttributesCount": (10, UINT, False),
        "events": (11, "Event", True), "droppedEventsCount": (12, UINT, False), "links": (13, "Link", True),
        "droppedLinksCount": (14, UINT, False), "status": (15, "Status", False),
    },
    "Event": {
        "timeUnixNano": (1, FIXED64, False), "name": (2, STR, False), "attributes": (3, "KeyValue", True),
        "droppedAttributesCount": (4, UINT, False),
    },
    "Link": {
        "traceId": (1, BYTES_HEX, False), "spanId": (2, BYTES_HEX, False), "traceState": (3, STR, False),
        "attributes": (4, "KeyValue", True), "droppedAttributesCount": (5, UINT, False), "flags": (6, FIXED32, False),
    },
    "Status": {"message": (2, STR, False), "code": (3, ENUM, False)},
    # logs
    "ExportLogsServiceRequest": {"resourceLogs": (1, "ResourceLogs", True)},
    "ResourceLogs": {"resource": (1, "Resource", False), "scopeLogs": (2, "ScopeLogs", True), "schemaUrl": (3, STR, False)},
    "ScopeLogs": {"scope": (1, "InstrumentationScope", False), "logRecords": (2, "LogRecord", True), "schemaUrl": (3, STR, False)},
    "LogRecord": {
        "timeUnixNano": (1, FIXED64, False), "observedTimeUnixNano": (11, FIXED64, False),
        "severityNumber": (2, ENUM, False), "severityText": (3, STR, False), "body": (5, "AnyValue", False),
        "attributes": (6, "KeyValue", True), "droppedAttributesCount": (7, UINT, False), "flags": (8, FIXED32, False),
        "traceId": (9, BYTES_HEX, False), "spanId": (10, BYTES_HEX, False), "eventName": (12, STR, False),
    },
    # metrics
    "ExportMetricsServiceRequest": {"resourceMetrics": (1, "ResourceMetrics", True)},
    "ResourceMetrics": {"resource": (1, "Resource", False), "scopeMetrics": (2, "ScopeMetrics", True), "schemaUrl": (3, STR, False)},
    "ScopeMetrics": {"scope": (1, "InstrumentationScope", False), "metrics": (2, "Metric", True), "schemaUrl": (3, STR, False)},
    "Metric": {
        "name": (1, STR, False), "description": (2, STR, False), "unit": (3, STR, False),
        "gauge": (5, "Gauge", False), "sum": (7, "Sum", False), "histogram": (9, "Histogram", False),
        "exponentialHistogram": (10, "ExponentialHistogram", False), "summary": (11, "Summary", False),
        "metadata": (12, "KeyValue", True),
    },
    "Gauge": {"dataPoints": (1, "NumberDataPoint", True)},
    "Sum": {"dataPoints": (1, "NumberDataPoint", True), "aggregationTemporality": (2, ENUM, False), "isMonotonic": (3, BOOL, False)},
    "Histogram": {"dataPoints": (1, "HistogramDataPoint", True), "aggregationTemporality": (2, ENUM, False)},
    "ExponentialHistogram": {"dataPoints": (1, "ExponentialHistogramDataPoint", True), "aggregationTemporality": (2, ENUM, False)},
    "Summary": {"dataPoints": (1, "SummaryDataPoint", True)},
    "NumberDataPoint": {
        "attributes": (7, "KeyValue", True), "startTimeUnixNano": (2, FIXED64, False), "timeUnixNano": (3, FIXED64, False),
        "asDouble": (4, DOUBLE, False), "asInt": (6, SFIXED64, False), "exemplars": (5, "Exemplar", True), "flags": (8, UINT, False),
    },
    "HistogramDataPoint": {
        "attributes": (9, "KeyValue", True), "startTimeUnixNano": (2, FIXED64, False), "timeUnixNano": (3, FIXED64, False),
        "count": (4, FIXED64, False), "sum": (5, DOUBLE, False), "bucketCounts": (6, FIXED64, True),
        "explicitBounds": (7, DOUBLE, True), "exemplars": (8, "Exemplar", True), "flags": (10, UINT, False),
        "min": (11, DOUBLE, False), "max": (12, DOUBLE, False),
    },
    "ExponentialHistogramDataPoint": {
        "attributes": (1, "KeyValue", True), "startTimeUnixNano": (2, FIXED64, False), "timeUnixNano": (3, FIXED64, False),
        "count": (4, FIXED64, False), "sum": (5, DOUBLE, False), "scale": (6, SINT32, False), "zeroCount": (7, FIXED64, False),
        "positive": (8, "Buckets", False), "negative": (9, "Buckets", False), "flags": (10, UINT, False),
        "exemplars": (11, "Exemplar", True), "min": (12, DOUBLE, False), "max": (13, DOUBLE, False),
        "zeroThreshold": (14, DOUBLE, False),
    },
    "Buckets": {"offset": (1, SINT32, False), "bucketCounts": (2, UINT, True)},
    "SummaryDataPoint": {
        "attributes": (7, "KeyValue", True), "startTimeUnixNano": (2, FIXED64, False), "timeUnixNano": (3, FIXED64, False),
        "count": (4, FIXED64, False), "sum": (5, DOUBLE, False), "quantileValues": (6, "ValueAtQuantile", True),
        "flags": (8, UINT, False),
    },
    "ValueAtQuantile": {"quantile": (1, DOUBLE, False), "value": (2, DOUBLE, False)},
    "Exemplar": {
        "filteredAttributes": (7, "KeyValue", True), "timeUnixNano": (2, FIXED64, False), "asDouble": (3, DOUBLE, False),
        "asInt": (6, SFIXED64, False), "spanId": (4, BYTES_HEX, False), "traceId": (5, BYTES_HEX, False),
    },
}

ROOT = {"traces": "ExportTraceServiceRequest", "logs": "ExportLogsServiceRequest", "metrics": "ExportMetricsServiceRequest"}


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint((field << 3) | wire)


def scalar(kind, value):
    """-> (wire type, payload bytes)"""
    if kind == STR:
        b = str(value).encode("utf-8")
        return 2, varint(len(b)) + b
    if kind in (BYTES_HEX, BYTES_B64):
        b = bytes.fromhex(value) if kind == BYTES_HEX else base64.b64decode(value)
        return 2, varint(len(b)) + b
    if kind == BOOL:
        return 0, varint(1 if value else 0)
    if kind in (INT64, UINT, ENUM):
        return 0, varint(int(value))
    if kind == SINT32:
        n = int(value)
        return 0, varint((n << 1) ^ (n >> 31))
    if kind == FIXED64:
        return 1, struct.pack("<Q", int(value))
    if kind == SFIXED64:
        return 1, struct.pack("<q", int(value))
    if kind == FIXED32:
        return 5, struct.pack("<I", int(value))
    if kind == DOUBLE:
        return 1, struct.pack("<d", float(value))
    raise ValueError(kind)


def encode(msg_name, obj):
    fields = SCHEMA[msg_name]
    out = bytearray()
    for name, value in obj.items():
        if name not in fields:
            raise KeyError("%s has no field %r" % (msg_name, name))
        number, kind, repeated = fields[name]
        values = value if repeated else [value]
        if kind in SCHEMA:
            for v in values:
                body = encode(kind, v)
                out += key(number, 2) + varint(len(body)) + body
        elif repeated and kind not in (STR, BYTES_HEX, BYTES_B64):
            packed = b"".join(scalar(kind, v)[1] for v in values)
            out += key(number, 2) + varint(len(packed)) + packed
        else:
            for v in values:
                wire, payload = scalar(kind, v)
                out += key(number, wire) + payload
    return bytes(out)


def main():
    args = sys.argv[1:]
    grpc = "--grpc" in args
    args = [a for a in args if a != "--grpc"]
    if len(args) != 1 or args[0] not in ROOT:
        sys.exit(__doc__)
    body = encode(ROOT[args[0]], json.load(sys.stdin))
    if grpc:
        body = b"\x00" + struct.pack(">I", len(body)) + body
    sys.stdout.buffer.write(body)


if __name__ == "__main__":
    main()
