"""Development services: real Kafka-protocol broker, ClickHouse, Redis, SNMP agents, a gNMI target and flowweir daemons on free ports, shared by the tests, the benchmarks and `make demo`."""
