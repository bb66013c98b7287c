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

from stream_app.tables.dimensions import DEFAULT_ID_NAMESPACE
from stream_app.transforms.settings import DEFAULT_LMS_ROOT_URL, DEFAULT_VERSION_STRING, TransformSettings


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

    model_config = SettingsConfigDict(env_prefix="STREAM_APP_", env_file=".env", extra="ignore")

    broker: str = "kafka://127.0.0.1:9092"
    broker_flavor: Literal["kafka", "tansu"] = "kafka"
    schema_registry_url: str = "http://127.0.0.1:8081"
    data_dir: str = "./data"
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    app_id: str = "stream_app"
    # The consumer group that reads the tracking topic (outside Faust's group); default `<app id>-ingest`.
    ingest_group: str = ""
    topics_file: str = ""
    partitions: int = 4
    replication_factor: int = 1

    lms_root_url: str = DEFAULT_LMS_ROOT_URL
    transformer_version: str = DEFAULT_VERSION_STRING
    xapi_actor_ifi: Literal["external_id", "mbox", "mbox_sha1sum"] = "external_id"
    mbox_sha1sum_form: Literal["erb", "spec"] = "erb"
    caliper_sensor_id: str = ""
    xapi_allowed_events: str = ""
    caliper_allowed_events: str = ""
    caliper11_allowed_events: str = ""
    # Enabled output formats; caliper11 (openedx-caliper-tracking parity) is opt-in.
    formats: str = "xapi,caliper"
    # Caliper 1.1: copy username, IP and user agent into the output as openedx-caliper-tracking did.
    caliper11_personal_data: bool = True
    # Caliper 1.1: send CT's raw-event "passthrough" for grading events without a referer (else reject).
    caliper11_passthrough: bool = False
    # Caliper 1.1: also emit page views (CT only logged them locally; off delivers exactly what CT delivered).
    caliper11_page_views: bool = False
    # Events without `name` (old tracking logs): event_type = take it as the name; skip = ERB's replay (no_name).
    nameless_events: Literal["event_type", "skip"] = "event_type"
    tracking_format: Literal["json", "event-bus-avro"] = "json"
    external_id_namespace: uuid.UUID = DEFAULT_ID_NAMESPACE
    generate_external_ids: bool = True
    external_id_grace: float = 30.0
    late_dimension_wait: float = Field(default=600.0)
    late_dimension_retry: float = Field(default=5.0)
    web_show_personal_data: bool = False
    table_standby_replicas: int = 1

    routers_file: str = ""
    # Formats whose delivered statements are logged one per line (ERB's xapi_tracking / caliper_tracking).
    statement_log: str = ""
    # text (Faust's default) or json (one JSON object per line, with event name, partition and offset fields).
    log_format: Literal["text", "json"] = "text"
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_tls: Literal["none", "starttls", "ssl"] = "none"
    alert_from: str = "stream-app@localhost"
    alert_to: str = ""
    alert_window: float = 900.0

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
