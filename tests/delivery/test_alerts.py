"""Alert mails through a real SMTP server (aiosmtpd, in-process): one digest per burst and window, one recovery mail."""

from __future__ import annotations

import asyncio
import email
import ipaddress
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from stream_app.agents.alerts import Rules
from stream_app.delivery.alerts import Alerter
from stream_app.delivery.mailer import SmtpMailer
from stream_app.devstack.processes import free_port
from stream_app.settings import Settings
from stream_app.topics import topics

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
# The alert agent's rules with the default topics and settings (what a worker without overrides uses).
RULES = Rules.of(Settings(), topics())


class Inbox:
    """An aiosmtpd handler keeping every message it receives (and who logged in)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.recipients: list[list[str]] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(email.message_from_bytes(envelope.content))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerts", b"pw")
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=inbox.authenticate,
                            auth_require_tls=False)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def mailer(port: int, **changes: Any) -> SmtpMailer:
    fields: dict[str, Any] = {"host": "127.0.0.1", "port": port, "sender": "stream-app@example.org",
                              "recipients": ["ops@example.org"]}
    return SmtpMailer(**{**fields, **changes})


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def test_one_mail_per_burst_and_window_then_one_recovery_mail(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    clock = Clock()
    alerter = Alerter(mailer(port), window=900, clock=clock)

    async def scenario() -> list[int]:
        sent = []
        for i in range(40):
            alerter.record_failure("campus-lrs", "http_422", item=f"stmt-{i}")
            clock.advance(1)
        alerter.record_failure("campus-lrs", "connection_error", item="stmt-x")
        sent.append(await alerter.flush())
        for i in range(10):  # the burst goes on within the window: held
            clock.advance(30)
            alerter.record_failure("campus-lrs", "http_422", item=f"later-{i}")
            sent.append(await alerter.flush())
        clock.advance(10)
        alerter.record_success("campus-lrs")
        sent.append(await alerter.flush())
        alerter.record_success("campus-lrs")
        clock.advance(3600)
        sent.append(await alerter.flush())
        return sent

    sent = asyncio.run(scenario())
    assert sent == [1] + [0] * 10 + [1, 0]
    assert inbox.subjects() == ["[stream-app] router campus-lrs is failing: 41 failures",
                                "[stream-app] router campus-lrs delivers again"]
    assert inbox.recipients[0] == ["ops@example.org"]
    digest = body(inbox.messages[0])
    assert "http_422: 40" in digest and "connection_error: 1" in digest
    assert "2024-05-01 10:00:00 UTC  stmt-0" in digest and "stmt-4" in digest and "stmt-5" not in digest
    assert "stream-app dead-letter redrive --router campus-lrs --reason http_422" in digest
    assert "stream-app dead-letter redrive --router campus-lrs --reason connection_error" in digest
    assert "every 15 min" in digest
    recovery = body(inbox.messages[1])
    assert "Router campus-lrs delivers again" in recovery
    assert "http_422: 10" in recovery and "later-0" in recovery  # held failures are told, not lost


def test_next_digest_after_the_window_counts_only_new_failures(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    clock = Clock()
    alerter = Alerter(mailer(port), window=86400, clock=clock)

    async def scenario() -> list[int]:
        alerter.record_failure("caliper11", "http_400", item="edx.video.played")
        first = await alerter.flush()
        clock.advance(3600)
        alerter.record_failure("caliper11", "http_400", item="edx.video.paused")
        alerter.record_failure("caliper11", "http_400", item="edx.video.paused")
        held = await alerter.flush()
        clock.advance(86400)
        return [first, held, await alerter.flush(), await alerter.flush()]

    assert asyncio.run(scenario()) == [1, 0, 1, 0]
    assert inbox.subjects()[1] == "[stream-app] router caliper11 is failing: 2 failures"
    assert "every 24 h" in body(inbox.messages[1])


def test_routers_are_alerted_independently(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    alerter = Alerter(mailer(port), window=900, clock=Clock())
    alerter.record_failure("a", "http_500", item="1")
    alerter.record_failure("b", "timeout", item="2")
    alerter.record_success("c")  # never failed: nothing to tell
    assert asyncio.run(alerter.flush()) == 2
    assert sorted(inbox.subjects()) == ["[stream-app] router a is failing: 1 failure",
                                        "[stream-app] router b is failing: 1 failure"]


def test_a_failing_mailer_never_raises_and_the_digest_is_kept(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    clock = Clock()
    alerter = Alerter(mailer(free_port()), window=900, clock=clock)  # nobody listens there

    async def scenario() -> list[int]:
        alerter.record_failure("lrs", "http_503", item="s1")
        failed = await alerter.flush()
        alerter.record_failure("lrs", "http_503", item="s2")
        alerter.mailer = mailer(port)
        return [failed, await alerter.flush()]

    assert asyncio.run(scenario()) == [0, 1]
    assert inbox.subjects() == ["[stream-app] router lrs is failing: 2 failures"]
    assert "s1" in body(inbox.messages[0]) and "s2" in body(inbox.messages[0])


def test_smtp_mailer_from_settings_logs_in_and_mails_every_recipient(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    settings = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_user="alerts", smtp_password=SecretStr("pw"),
                        smtp_tls="none", alert_from="sa@example.org", alert_to="a@example.org, b@example.org")
    asyncio.run(SmtpMailer.from_settings(settings).send("subject", "body text"))
    assert inbox.logins == ["alerts"]
    assert inbox.recipients == [["a@example.org", "b@example.org"]]
    [message] = inbox.messages
    assert (message["From"], message["Subject"]) == ("sa@example.org", "subject")
    assert body(message).strip() == "body text"


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A certificate for 127.0.0.1: the server's context and a client context trusting only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(T0 - timedelta(days=1))
            .not_valid_after(datetime.now(UTC) + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_smtp_mailer_over_tls(tmp_path: Path, tls: str) -> None:
    server_context, client_context = self_signed(tmp_path)
    inbox = Inbox()
    port = free_port()
    # aiosmtpd does not count implicit TLS as TLS when deciding to offer AUTH, hence auth_require_tls there.
    options: dict[str, Any] = ({"tls_context": server_context, "require_starttls": True} if tls == "starttls"
                               else {"ssl_context": server_context, "auth_require_tls": False})
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=inbox.authenticate, **options)
    controller.start()
    try:
        asyncio.run(mailer(port, tls=tls, user="alerts", password=SecretStr("pw"),
                           tls_context=client_context).send("over tls", "secret body"))
    finally:
        controller.stop()
    assert inbox.subjects() == ["over tls"] and inbox.logins == ["alerts"]


def test_dead_letters_with_odd_times_are_ignored_not_fatal_to_the_alert_agent(smtp: tuple[Inbox, int]) -> None:

    inbox, port = smtp
    alerter = Alerter(mailer(port), window=900)
    now = datetime.now(UTC)
    for odd in ("0001-01-01", "not a time", None, 1e30):
        RULES.feed(alerter, RULES.dead_letter, {"time": odd, "router": "lrs", "stage": "deliver", "reason": "http_400"})
    assert asyncio.run(alerter.flush()) == 0  # no usable time, or one too old to be news
    RULES.feed(alerter, RULES.dead_letter,
               {"time": now.isoformat(), "router": "lrs", "stage": "deliver", "reason": "http_400"})
    assert asyncio.run(alerter.flush()) == 1 and inbox.subjects() == ["[stream-app] router lrs is failing: 1 failure"]


class StatusTopic:
    """The compacted delivery-status topic as the workers see it: records with offsets, and a view on them."""

    def __init__(self) -> None:
        from stream_app.agents.statusview import StatusView

        self.records: list[tuple[str, dict[str, Any]]] = []
        self.view = StatusView(Settings(), "status")  # never started: fed by `send` as the tail would be

    def send(self, key: str, body: dict[str, Any]) -> int:
        self.records.append((key, body))
        self.view.note(key, body, len(self.records) - 1)
        return len(self.records) - 1

    def send_soon(self, key: bytes, value: bytes) -> None:  # the Faust channel a StatusReporter writes to
        import orjson

        self.send(key.decode(), orjson.loads(value))


def worker_alerter(port: int, status: StatusTopic, clock: Clock) -> Alerter:
    """The alerter of one worker: its marks go onto the shared status topic."""
    from stream_app.agents.alerts import MARK_PREFIX, mark_body

    return Alerter(mailer(port), window=900, clock=clock,
                   remember=lambda router, mark: status.send(MARK_PREFIX + router, mark_body(router, mark)) and None)


def deliver_record(alerter: Alerter, status: StatusTopic, offset: int) -> None:
    """What the alert agent does with one delivery-status record it reads."""
    from stream_app.agents.alerts import restore

    _key, body = status.records[offset]
    if isinstance(body.get("router"), str):
        restore(alerter, status.view, body["router"])
    RULES.feed(alerter, RULES.status, body, offset=offset)


def test_a_restarted_worker_announces_no_second_failing_and_announces_delivering() -> None:
    from stream_app.agents.stats import StatusReporter

    status = StatusTopic()
    first = StatusReporter(status, status.view)
    first.observe("lrs", False, "connection_error")
    first.observe("lrs", False, "connection_error")
    # Killed; its successors (two workers sharing the partitions) read the topic's last state of the router.
    second, third = StatusReporter(status, status.view), StatusReporter(status, status.view)
    second.observe("lrs", False, "connection_error")
    third.observe("lrs", False, "timeout")
    assert [body["state"] for _key, body in status.records] == ["failing"]
    third.observe("lrs", True, None)
    second.observe("lrs", True, None)
    assert [body["state"] for _key, body in status.records] == ["failing", "delivering"]
    assert {key for key, _body in status.records} == {"lrs"}


def restarted(port: int, status: StatusTopic, clock: Clock) -> Alerter:
    """The alert agent of a worker started after a crash: marks restored, every status record read again."""

    alerter = worker_alerter(port, status, clock)
    RULES.catch_up(alerter, status.view)
    for offset in range(len(status.records)):
        deliver_record(alerter, status, offset)
    return alerter


def test_one_digest_and_one_recovery_mail_per_outage_across_restarts_of_the_alert_agent(
        smtp: tuple[Inbox, int]) -> None:

    inbox, port = smtp
    clock = Clock()
    clock.now = datetime.now(UTC)
    status = StatusTopic()

    async def scenario() -> None:
        failing = status.send("lrs", {"router": "lrs", "state": "failing", "error": "connection_error",
                                      "time": clock.now.timestamp()})
        before = worker_alerter(port, status, clock)
        deliver_record(before, status, failing)
        assert await before.flush() == 1  # the digest, and its mark on the topic
        # Killed before its offsets were committed: the successor reads the failing record again.
        clock.advance(5)
        after = restarted(port, status, clock)
        assert await after.flush() == 0
        clock.advance(5)
        delivering = status.send("lrs", {"router": "lrs", "state": "delivering", "time": clock.now.timestamp()})
        deliver_record(after, status, delivering)
        assert await after.flush() == 1
        # Killed again, right after the recovery mail: the next one reads both records again and mails nothing.
        clock.advance(5)
        last = restarted(port, status, clock)
        assert await last.flush() == 0

    asyncio.run(scenario())
    assert inbox.subjects() == ["[stream-app] router lrs is failing: 1 failure",
                                "[stream-app] router lrs delivers again"]


def test_a_state_read_and_committed_but_not_mailed_before_a_crash_is_mailed_by_the_successor(
        smtp: tuple[Inbox, int]) -> None:

    inbox, port = smtp
    clock = Clock()
    clock.now = datetime.now(UTC)
    status = StatusTopic()

    async def scenario() -> None:
        failing = status.send("lrs", {"router": "lrs", "state": "failing", "error": "http_503",
                                      "time": clock.now.timestamp()})
        deliver_record(worker_alerter(port, status, clock), status, failing)  # read, then killed before the flush
        successor = worker_alerter(port, status, clock)
        RULES.catch_up(successor, status.view)  # its consumer starts past the record: only the view has it
        assert await successor.flush() == 1

    asyncio.run(scenario())
    assert inbox.subjects() == ["[stream-app] router lrs is failing: 1 failure"]
