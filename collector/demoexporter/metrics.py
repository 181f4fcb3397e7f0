"""Demo exporter metrics: `flowweir_demoexporter_<component>_<what>_<unit>`.

Labels: `router` (names from the configuration), `protocol` (netflow9, ipfix, sflow),
`pdu` (get, getnext, getbulk, other), `kind` (constants below).
"""

from __future__ import annotations

from collector.metrics.stats import MetricDef, MetricSet

P = "flowweir_demoexporter_"

DATAGRAMS = P + "export_datagrams"
FLOWS = P + "export_flows"
EXPORT_ERRORS = P + "export_errors"
FLOW_RATE = P + "export_flow_rate_per_second"
SNMP_REQUESTS = P + "snmp_requests"
SNMP_ERRORS = P + "snmp_errors"

SEND_FAILED = "send_failed"
MALFORMED = "malformed"
BAD_COMMUNITY = "bad_community"

METRICS = MetricSet(
    MetricDef(
        DATAGRAMS,
        "Datagrams sent (templates and counters included).",
        "counter",
        ("router", "protocol"),
    ),
    MetricDef(FLOWS, "Flow records (sFlow: flow samples) sent.", "counter", ("router", "protocol")),
    MetricDef(
        EXPORT_ERRORS, "Datagrams not sent, by kind (send_failed).", "counter", ("router", "kind")
    ),
    MetricDef(
        FLOW_RATE,
        "Flows per second the router exports now (its rate times the daily factor).",
        "gauge",
        ("router",),
    ),
    MetricDef(
        SNMP_REQUESTS, "SNMP requests answered by a router's agent.", "counter", ("router", "pdu")
    ),
    MetricDef(
        SNMP_ERRORS,
        "SNMP requests not answered, by kind (malformed, bad_community).",
        "counter",
        ("router", "kind"),
    ),
)
