#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Scrape a bpfmesh /metrics URL and parse it with Prometheus' own client
parser (Debian's python3-prometheus-client). Checks what every consumer
relies on, then prints one normalised line per sample for the caller to
assert on: `name{k="v",...} value`, labels sorted, sorted lines.

Exit 0 when the exposition parses and every rule holds; 1 with a reason."""
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

# Istio's standard label set: Kiali drops a series that lacks any of them.
ISTIO_LABELS = {
    "reporter", "source_workload", "source_workload_namespace", "source_principal",
    "source_app", "source_version", "source_canonical_service",
    "source_canonical_revision", "source_cluster", "destination_workload",
    "destination_workload_namespace", "destination_principal", "destination_app",
    "destination_version", "destination_service", "destination_service_name",
    "destination_service_namespace", "destination_canonical_service",
    "destination_canonical_revision", "destination_cluster", "request_protocol",
    "response_flags", "connection_security_policy",
}
ISTIO_FAMILIES = {
    "istio_tcp_connections_opened": "counter",
    "istio_tcp_connections_closed": "counter",
    "istio_tcp_received_bytes": "counter",
    "istio_tcp_sent_bytes": "counter",
}


def fail(msg):
    print("prom_parse: " + msg, file=sys.stderr)
    sys.exit(1)


def check_histogram(fam):
    """Buckets cumulative, +Inf present and equal to _count, per series."""
    series = {}
    for s in fam.samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        series.setdefault(key, []).append(s)
    for key, samples in series.items():
        buckets = [s for s in samples if s.name.endswith("_bucket")]
        count = [s.value for s in samples if s.name.endswith("_count")]
        if not buckets or len(count) != 1:
            fail(f"{fam.name}{dict(key)}: no buckets or no single _count")
        if buckets[-1].labels["le"] != "+Inf" or buckets[-1].value != count[0]:
            fail(f"{fam.name}{dict(key)}: last bucket is not +Inf == _count")
        les = [float(b.labels["le"]) for b in buckets]
        vals = [b.value for b in buckets]
        if les != sorted(les) or vals != sorted(vals):
            fail(f"{fam.name}{dict(key)}: buckets not ascending and cumulative")


def main():
    if len(sys.argv) != 2:
        fail("usage: prom_parse.py URL")
    with urllib.request.urlopen(sys.argv[1], timeout=10) as resp:
        ctype = resp.headers.get("Content-Type", "")
        body = resp.read().decode("utf-8")
    if not ctype.startswith("text/plain; version=0.0.4"):
        fail(f"content type {ctype!r}")
    families = {f.name: f for f in text_string_to_metric_families(body)}
    for name, typ in ISTIO_FAMILIES.items():
        if name not in families or families[name].type != typ:
            fail(f"family {name} missing or not a {typ}")
    lines = []
    for fam in families.values():
        if fam.type == "histogram":
            check_histogram(fam)
        for s in fam.samples:
            if fam.name in ISTIO_FAMILIES:
                if set(s.labels) != ISTIO_LABELS:
                    fail(f"{s.name}: labels {sorted(set(s.labels) ^ ISTIO_LABELS)} differ")
                if s.labels["reporter"] != "source" or s.labels["request_protocol"] != "tcp":
                    fail(f"{s.name}: reporter/request_protocol {s.labels}")
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            value = int(s.value) if s.value == int(s.value) else s.value
            lines.append(f"{s.name}{{{labels}}} {value}")
    for line in sorted(lines):
        print(line)


main()
