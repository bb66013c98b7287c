"""Codecs: Avro records of the output topics in the Confluent wire format (schemas beside the code), and the
`events-by-actor` entry.

`records` turns a statement or Caliper event into the flat record the schema
describes (pure); `avro` serialises records through a schema registry with
confluent-kafka's serializer (`flat`: its fast path for flat records) and reads
them back; `registry` waits out registry outages; `entries` is the routed event
as it travels between the ingest stage and the enrich agent, with the spans
header that says where each event lies in a message.
"""
