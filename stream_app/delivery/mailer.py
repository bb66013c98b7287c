"""Where alert mails go: the `Mailer` protocol the alerter is given, and its SMTP implementation on aiosmtplib.

The alerter only knows `Mailer.send(subject, body)`, so tests and other
transports inject their own. `SmtpMailer.from_settings` reads the
`STREAM_APP_SMTP_*` and `STREAM_APP_ALERT_*` settings: `smtp_tls` is `none`
(plain, and no opportunistic STARTTLS either: "none" means what it says),
`starttls` (upgrade after connecting, usually port 587) or `ssl` (TLS from the
first byte, usually 465); login only when a user is set; `alert_to` is a
comma-separated list. Errors propagate (`aiosmtplib.SMTPException`, `OSError`,
`TimeoutError`): the alerter decides to keep the digest and try again.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from typing import Literal, Protocol

import aiosmtplib
from pydantic import SecretStr

from stream_app.settings import Settings

Tls = Literal["none", "starttls", "ssl"]


class Mailer(Protocol):
    """Sends one plain-text mail to the configured recipients."""

    async def send(self, subject: str, body: str) -> None: ...


class SmtpMailer:
    """A `Mailer` over SMTP; one connection per mail (alerts are rare)."""

    def __init__(self, *, host: str, port: int, sender: str, recipients: list[str], tls: Tls = "none",
                 user: str = "", password: SecretStr | None = None, timeout: float = 30.0,
                 tls_context: ssl.SSLContext | None = None) -> None:
        if not recipients:
            raise ValueError("SmtpMailer needs at least one recipient (STREAM_APP_ALERT_TO)")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = recipients
        self.tls = tls
        self.user = user
        self._password = password or SecretStr("")
        self.timeout = timeout
        self.tls_context = tls_context  # None: the system's trusted CAs and host name checks

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer:
        """The mailer the settings describe."""
        recipients = [r.strip() for r in settings.alert_to.split(",") if r.strip()]
        return cls(host=settings.smtp_host, port=settings.smtp_port, sender=settings.alert_from,
                   recipients=recipients, tls=settings.smtp_tls, user=settings.smtp_user,
                   password=settings.smtp_password)

    async def send(self, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = subject
        message.set_content(body)
        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            username=self.user or None,
            password=self._password.get_secret_value() if self.user else None,
            use_tls=self.tls == "ssl",
            start_tls=self.tls == "starttls",
            timeout=self.timeout,
            tls_context=self.tls_context,
        )
