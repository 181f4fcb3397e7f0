"""Metric families of the outlet decoders (counted into a `Stats` given to the Decoder)."""

from __future__ import annotations

from collector.metrics.stats import MetricDef, MetricSet

P = "flowweir_outlet_decoder_"

DATAGRAMS = P + "datagrams"
FLOWS = P + "flows"
ERRORS = P + "errors"
TEMPLATES = P + "templates"
TEMPLATE_UPDATES = P + "template_updates"
PENDING_FLOWSETS = P + "pending_flowsets"
PENDING_DECODED = P + "pending_decoded_flowsets"
PENDING_EXPIRED = P + "pending_expired_flowsets"
STORE_ERRORS = P + "store_errors"

# error kinds (bounded label values)
TRUNCATED = "truncated"
UNKNOWN_VERSION = "unknown_version"
TEMPLATE_MISSING = "template_missing"
BAD_LENGTH = "bad_length"
BAD_TEMPLATE = "bad_template"
ERROR_KINDS = (TRUNCATED, UNKNOWN_VERSION, TEMPLATE_MISSING, BAD_LENGTH, BAD_TEMPLATE)

METRICS = MetricSet(
    MetricDef(
        DATAGRAMS,
        "Datagrams decoded, per exporter and version.",
        "counter",
        ("exporter", "version"),
    ),
    MetricDef(
        FLOWS, "Flows decoded, per exporter and version.", "counter", ("exporter", "version")
    ),
    MetricDef(
        ERRORS,
        "Datagrams or flowsets not decoded, per exporter and kind.",
        "counter",
        ("exporter", "kind"),
    ),
    MetricDef(
        TEMPLATES, "Templates (data and options) known, per exporter.", "gauge", ("exporter",)
    ),
    MetricDef(
        TEMPLATE_UPDATES,
        "Templates received that were new or changed, per exporter.",
        "counter",
        ("exporter",),
    ),
    MetricDef(PENDING_FLOWSETS, "Data flowsets kept while waiting for their template.", "gauge"),
    MetricDef(
        PENDING_DECODED,
        "Kept data flowsets decoded once their template arrived.",
        "counter",
        ("exporter",),
    ),
    MetricDef(
        PENDING_EXPIRED,
        "Kept data flowsets dropped (age, count or size bound).",
        "counter",
        ("exporter",),
    ),
    MetricDef(STORE_ERRORS, "Template store (Redis) operations that failed.", "counter"),
)
