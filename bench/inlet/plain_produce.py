"""The floor for any inlet built on our Kafka contract: recv_into, then one produce per datagram.

No envelope header, no timestamps, no counters: just the datagram handed to
confluent-kafka with the inlet's producer settings (lz4, key, acks). What this
costs per datagram is what librdkafka costs; the inlet cannot go below it.
"""

from __future__ import annotations

import signal
import socket
import sys

from collector.config.shared import KafkaConfig
from collector.inlet.config import InletConfig
from collector.kafka.producer import ConfluentProducer


def main() -> None:
    port, rcvbuf, brokers, topic = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    defaults = InletConfig()  # the inlet's producer queue bounds
    producer = ConfluentProducer(
        KafkaConfig(brokers=[brokers]), defaults.queue_size, defaults.queue_bytes
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE, as the inlet does
    sock.bind(("127.0.0.1", port))
    sock.settimeout(0.1)
    buf = bytearray(65536)
    queue_full = 0
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    recv_into, produce, poll = sock.recv_into, producer.produce, producer.poll
    while not stopping:
        try:
            n = recv_into(buf)
        except TimeoutError:
            poll()
            continue
        value = bytes(buf[:n])
        try:
            produce(topic, value, value[4:20])
        except BufferError:
            queue_full += 1
        poll()
    producer.close(10)
    print(queue_full, flush=True)


if __name__ == "__main__":
    main()
