"""IPFIX (RFC 7011) for `flowweir demo-exporter` and the tests: see `template.py`.

Times are absolute (flowStartMilliseconds/flowEndMilliseconds), the sequence number counts
data records, and the sampling rate is announced as RFC 5477 packet interval/space (one
packet selected out of every `sampling_rate`) in options data scoped by the observation domain.
"""

from __future__ import annotations

import struct

from collector.generator.template import OPTIONS_TEMPLATE_ID, Getter, TemplateEncoder

HEADER = struct.Struct("!HHIII")  # version, length, export time, sequence, observation domain


class IPFIXEncoder(TemplateEncoder):
    version = 10
    template_set_id = 2
    options_set_id = 3

    def time_fields(self) -> tuple[tuple[int, int, Getter], ...]:
        return (
            (152, 8, lambda f, s, e: s),  # flowStartMilliseconds
            (153, 8, lambda f, s, e: e),  # flowEndMilliseconds
        )

    def header(self, now: float, records: int, body_length: int) -> bytes:
        return HEADER.pack(10, HEADER.size + body_length, int(now), self.sequence, self.domain)

    def options_template(self) -> bytes:
        # 3 fields, 1 scope: observationDomainId (149); samplingPacketInterval (305), ...Space (306)
        return struct.pack("!HHHHHHHHH", OPTIONS_TEMPLATE_ID, 3, 1, 149, 4, 305, 4, 306, 4)

    def options_data(self) -> bytes:
        return struct.pack("!III", self.domain, 1, max(0, self.sampling_rate - 1))

    def count(self, data_records: int) -> None:
        self.sequence = (self.sequence + data_records) & 0xFFFFFFFF
