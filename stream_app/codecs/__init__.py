"""Codecs for the output topics: Avro records in the Confluent wire format, schemas beside the code.

`records` turns a statement or Caliper event into the flat record the schema
describes (pure); `avro` serialises records through a schema registry with
confluent-kafka's serializer and reads them back.
"""
