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
TEMPLATES_EVICTED = P + "templates_evicted"
SAMPLERS_EVICTED = P + "samplers_evicted"
EXPORTERS_EVICTED = P + "exporters_evicted"
OTHER = "other"  # the exporter label of exporters past `max-exporter-series`

# error kinds (bounded label values)
TRUNCATED = "truncated"
UNKNOWN_VERSION = "unknown_version"
TEMPLATE_MISSING = "template_missing"
BAD_LENGTH = "bad_length"
BAD_TEMPLATE = "bad_template"
NOT_ENCAPSULATED = "not_encapsulated"  # flows dropped: a decapsulation mode, a plain packet
INTERNAL = "internal"  # a decoder bug caught at the flush boundary
ERROR_KINDS = (
    TRUNCATED, UNKNOWN_VERSION, TEMPLATE_MISSING, BAD_LENGTH, BAD_TEMPLATE, NOT_ENCAPSULATED,
    INTERNAL,
)  # fmt: skip

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
    MetricDef(
        TEMPLATES_EVICTED,
        "Templates forgotten: the exporter had max-templates-per-exporter newer ones.",
        "counter",
        ("exporter",),
    ),
    MetricDef(
        SAMPLERS_EVICTED,
        "Sampling rates forgotten: the exporter had max-samplers-per-exporter newer ones.",
        "counter",
        ("exporter",),
    ),
    MetricDef(
        EXPORTERS_EVICTED,
        "Exporters whose state (templates, rates, kept data) was dropped: max-exporters "
        "more recently seen ones.",
        "counter",
    ),
)
