"""The embedded development stack: a stand-in schema registry, the broker launcher, ... — development only.

These pieces let stream_app run and be tested on one machine without Docker.
None of them is meant for production: the stand-in registry serves only the
subset of Confluent's REST API that confluent-kafka's Avro serializer and
deserializer call, and the embedded broker (Tansu) needs the compatibility
settings described in INFRA-NOTES.md. In production, point stream_app at Apache
Kafka and a real Confluent-compatible schema registry (see docker-compose.yml).
"""
