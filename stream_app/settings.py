"""All worker and CLI settings, read once from `STREAM_APP_*` environment variables (or a `.env` file).

The variable names are a contract used by deployment scripts; `.env.example`
lists every one. Transformers never read this module: the app turns it into a
`TransformSettings` value and passes that down.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stream_app.transforms.settings import (
    DEFAULT_ID_NAMESPACE,
    DEFAULT_LMS_ROOT_URL,
    DEFAULT_VERSION_STRING,
    TransformSettings,
)


def parse_duration(value: str | float | int) -> float:
    """Seconds from `90`, `1.5`, `500ms`, `30s`, `5m`, `2h` or `1d`."""
    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip().lower()
    for suffix, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0), ("d", 86400.0)):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(text[: -len(suffix)]) * factor
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 2h)") from None


class Settings(BaseSettings):
    """stream_app settings; every field maps to `STREAM_APP_<FIELD NAME>`."""

    # Each field's docstring is its description: docs/configuration.md is generated from them.
    model_config = SettingsConfigDict(env_prefix="STREAM_APP_", env_file=".env", extra="ignore",
                                      use_attribute_docstrings=True)

    broker: str = "kafka://127.0.0.1:9092"
    """Kafka bootstrap URL(s) for Faust, e.g. `kafka://kafka-1:9092;kafka://kafka-2:9092`."""
    broker_flavor: Literal["kafka", "tansu"] = "kafka"
    """`kafka`, or `tansu` for the embedded development broker (its workarounds and fast start-up)."""
    schema_registry_url: str = "http://127.0.0.1:8081"
    """Confluent-compatible schema registry (Confluent, Karapace, Redpanda, Apicurio ccompat)."""
    data_dir: str = "./data"
    """RocksDB table state on local disk (recoverable from the changelog topics); one per worker."""
    web_port: int = 6066
    """Port of the worker's web views and `/metrics`."""
    web_host: str = "127.0.0.1"
    """Host name at which the other workers reach this worker's web server (table lookups are forwarded there)."""
    app_id: str = "stream_app"
    """Faust app id: consumer group and changelog-topic prefix (changing it moves state)."""
    ingest_group: str = ""
    """Consumer group of the tracking topic's reader (`replay` moves it); empty = `<app id>-ingest`."""
    ingest_process: bool = True
    """Read and route the tracking topic in a process of its own beside the worker (up to a quarter faster
    on a spare core; it keeps its own copy of the username index); `false` routes on the worker's event loop
    (one process, one core)."""
    topics_file: str = ""
    """Your copy of `topics.yaml` (topic names); empty = the packaged one."""
    cdc_topic_prefix: str = ""
    """Debezium's `<topic.prefix>.<database>` (e.g. `lms.openedx`): the LMS CDC topics are read as
    `<prefix>.<table>` instead of topics.yaml's names (docs/debezium.md)."""
    partitions: int = 4
    """Partitions of the topics stream_app creates (and of its partitioned tables)."""
    replication_factor: int = 1
    """Replication factor of the topics stream_app creates (3 in production)."""

    lms_root_url: str = DEFAULT_LMS_ROOT_URL
    """LMS root URL: IRI prefix and xAPI account `homePage`."""
    transformer_version: str = DEFAULT_VERSION_STRING
    """Transformer-version value; `event-routing-backends@X.Y.Z` for parity runs."""
    xapi_actor_ifi: Literal["external_id", "mbox", "mbox_sha1sum"] = "external_id"
    """xAPI actor form: `external_id`, `mbox` or `mbox_sha1sum` (ERB's setting)."""
    mbox_sha1sum_form: Literal["erb", "spec"] = "erb"
    """`erb` (sha1 of the bare email, as ERB) or `spec` (sha1 of the `mailto:` IRI)."""
    caliper_sensor_id: str = ""
    """Caliper envelope sensor; empty = the LMS root URL."""
    xapi_allowed_events: str = ""
    """Comma-separated names or `re:<regex>`; empty = ERB's default xAPI list."""
    caliper_allowed_events: str = ""
    """Comma-separated names or `re:<regex>`; empty = ERB's default Caliper list."""
    caliper11_allowed_events: str = ""
    """Comma-separated names or `re:<regex>`; empty = openedx-caliper-tracking's 155 names."""
    formats: str = "xapi,caliper"
    """Output formats to produce: any of `xapi`, `caliper`, `caliper11` (opt-in)."""
    caliper11_personal_data: bool = True
    """Caliper 1.1: copy username, IP and user agent into events as openedx-caliper-tracking did."""
    caliper11_passthrough: bool = False
    """Caliper 1.1: send CT's raw-event passthrough for grading events without a referer (else reject)."""
    caliper11_page_views: bool = False
    """Caliper 1.1: also emit page views (CT only logged them locally; off delivers exactly what CT delivered)."""
    nameless_events: Literal["event_type", "skip"] = "event_type"
    """Events without `name` (old tracking logs): `event_type` takes it as the name; `skip` skips them
    (`no_name`), as ERB's file replay does (docs/backfill.md)."""
    tracking_format: Literal["json", "event-bus-avro"] = "json"
    """`json`, or `event-bus-avro` (the event bus's Avro `TrackingLogData`; JSON still accepted)."""
    xapi_id_form: Literal["live", "replay"] = "live"
    """xAPI statement ids as ERB's live paths made them (`live`: from the timestamp as a datetime) or as its
    file replays and unit tests do (`replay`: from the timestamp text); docs/statement-ids.md."""
    external_id_namespace: uuid.UUID = DEFAULT_ID_NAMESPACE
    """uuid5 namespace of generated external ids (keep it stable forever)."""
    generate_external_ids: bool = True
    """Give users without an external-id row a deterministic generated id."""
    external_id_grace: float = 30.0
    """How long a new user's events wait for its external-id rows before an id is generated."""
    late_dimension_wait: float = Field(default=600.0)
    """How long an event waits for its user or course before going to the dead-letter topic."""
    late_dimension_retry: float = Field(default=5.0)
    """How often a held event is retried."""
    web_show_personal_data: bool = False
    """Show email and name in the web views (masked by default)."""
    table_standby_replicas: int = 1
    """Standby copies of partitioned tables on other workers (fast failover)."""

    routers_file: str = ""
    """Routers YAML (delivery to LRSs and ClickHouse); empty = no delivery."""
    statement_log: str = ""
    """Log every delivered statement of these formats (ERB's loggers `xapi_tracking`, `caliper_tracking`)."""
    log_format: Literal["text", "json"] = "text"
    """`text` (Faust's) or `json` (one object per line, with event name, topic, partition and offset)."""
    smtp_host: str = ""
    """SMTP server for alert mails; empty = no mail."""
    smtp_port: int = 25
    """SMTP port."""
    smtp_user: str = ""
    """SMTP user (empty = no login)."""
    smtp_password: SecretStr = SecretStr("")
    """SMTP password (a secret: never logged)."""
    smtp_tls: Literal["none", "starttls", "ssl"] = "none"
    """`none`, `starttls` or `ssl`."""
    alert_from: str = "stream-app@localhost"
    """Sender of alert mails."""
    alert_to: str = ""
    """Comma-separated recipients of alert mails; empty = no mail."""
    alert_window: float = 900.0
    """At most one digest per router and reason per window, e.g. `15m` (`24h` as openedx-caliper-tracking)."""

    @field_validator("late_dimension_wait", "late_dimension_retry", "alert_window", "external_id_grace", mode="before")
    @classmethod
    def _duration(cls, value: str | float) -> float:
        return parse_duration(value)

    def transform_settings(self) -> TransformSettings:
        """The output-affecting subset, for the engine."""
        return TransformSettings(
            lms_root_url=self.lms_root_url,
            ifi=self.xapi_actor_ifi,
            mbox_sha1sum_form=self.mbox_sha1sum_form,
            version_string=self.transformer_version,
            sensor_id=self.caliper_sensor_id or None,
            caliper11_personal_data=self.caliper11_personal_data,
            caliper11_passthrough=self.caliper11_passthrough,
            caliper11_page_views=self.caliper11_page_views,
            xapi_id_form=self.xapi_id_form,
            nameless_events=self.nameless_events,
        )

    def tracking_group(self) -> str:
        """The consumer group whose committed offsets say how far the tracking topic is read."""
        return self.ingest_group or f"{self.app_id}-ingest"

    def statement_log_formats(self) -> tuple[str, ...]:
        """The formats named in STREAM_APP_STATEMENT_LOG."""
        return tuple(f.strip() for f in self.statement_log.split(",") if f.strip())

    def format_list(self) -> tuple[str, ...]:
        """The enabled output formats."""
        formats = tuple(f.strip() for f in self.formats.split(",") if f.strip())
        unknown = sorted(set(formats) - {"xapi", "caliper", "caliper11"})
        if unknown:
            raise ValueError(f"STREAM_APP_FORMATS: unknown format(s) {unknown}; use xapi, caliper, caliper11")
        return formats


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
