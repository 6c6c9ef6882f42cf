"""The ``smtp`` plugin: a notice (``tb:ThongBaoCongDan``) sent as an email through a real SMTP client.

The adapter's ``endpoint`` is ``smtp://host:port`` (STARTTLS with ``options.starttls``) or
``smtps://host:port`` (TLS from the first byte); the credentials, when the server wants them, come from
the environment variables the options name. One attempt is one SMTP session: MAIL, RCPT, DATA, the
exact message bytes kept on the attempt as its request and the server's last reply as its response.

What the server says decides the outcome as for any delivery: a 5xx reply (a refused recipient, a
message refused) is permanent, a 4xx reply, a refused connection, a dropped session or a timeout is
transient and retried by the adapter's policy. Every email carries ``Message-ID: <hub message
id@…>``: a notice sent again after a crash mid-session (delivery is at-least-once) is the same
message to the mail system, which may drop the repeat.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate
from typing import Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from lienthong.adapter import AdapterContext, AdapterSpec
from lienthong.errors import HubError, PermanentDeliveryError, TransientDeliveryError
from lienthong.notify.notice import Notice
from lienthong.store import Claim, Delivered

_DEFAULT_PORTS: Final = {"smtp": 25, "smtps": 465}
#: Header lines up to RFC 5322's 998 characters: the standard library folds a long Vietnamese display
#: name into two encoded words split inside a word, which readers (Python's own parser among them)
#: show with a space in the middle of it ("t ỉnh"). Unfolded, the name arrives whole.
_POLICY: Final = SMTP.clone(max_line_length=998)


class SmtpOptions(BaseModel):
    """``options:`` of an adapter with ``plugin: smtp``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_address: str = Field(description="The sender's address (From), e.g. thongbao@quangninh.gov.vn.")
    from_name: str | None = Field(default=None, description="The sender's display name.")
    reply_to: str | None = Field(default=None, description="Where answers go (Reply-To), if not From.")
    starttls: bool = Field(default=False, description="Upgrade an smtp:// session with STARTTLS.")
    username_env: str | None = Field(default=None, description="Environment variable with the login.")
    password_env: str | None = Field(default=None, description="Environment variable with the password.")


class SmtpAdapter:
    def __init__(self, context: AdapterContext[SmtpOptions]) -> None:
        self.name = context.config.name
        self.options = context.options
        self.agency = context.hub_agency
        self.timeout = context.config.timeout.total_seconds()
        endpoint = urlsplit(context.config.endpoint or "")
        if endpoint.scheme not in _DEFAULT_PORTS or not endpoint.hostname:
            raise HubError(f"adapter '{self.name}': endpoint must be smtp://host:port or smtps://host:port")
        self.scheme = endpoint.scheme
        self.host = endpoint.hostname
        self.port = endpoint.port or _DEFAULT_PORTS[endpoint.scheme]

    def deliver(self, claim: Claim) -> Delivered:
        notice = Notice.from_xml(claim.payload)
        if notice.channel != "email":
            raise PermanentDeliveryError(
                f"a notice for channel {notice.channel!r} routed to the email adapter"
            )
        message = self.message(notice, str(claim.envelope.message_id))
        data = message.as_bytes(policy=_POLICY)
        try:
            reply = self._send(notice.recipient, data)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            error = PermanentDeliveryError if codes and min(codes) >= 500 else TransientDeliveryError
            raise error(
                f"SMTP {self.host}:{self.port} refused {notice.recipient}: {exc.recipients}", request=data
            ) from exc
        except smtplib.SMTPConnectError as exc:
            raise TransientDeliveryError(f"SMTP {self.host}:{self.port}: {exc}", request=data) from exc
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            error = PermanentDeliveryError if exc.smtp_code >= 500 else TransientDeliveryError
            raise error(
                f"SMTP {self.host}:{self.port} answered {exc.smtp_code} {text}", request=data
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused, dropped, timed out, TLS failed
            raise TransientDeliveryError(
                f"SMTP {self.host}:{self.port}: {exc or type(exc).__name__}", request=data
            ) from exc
        return Delivered(response=reply, request=data)

    def message(self, notice: Notice, message_id: str) -> EmailMessage:
        message = EmailMessage()
        sender = self.options.from_address
        message["From"] = formataddr((self.options.from_name, sender)) if self.options.from_name else sender
        message["To"] = formataddr((notice.name, notice.recipient)) if notice.name else notice.recipient
        if self.options.reply_to:
            message["Reply-To"] = self.options.reply_to
        message["Subject"] = notice.subject or f"Hồ sơ {notice.dossier_code}"
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = f"<{message_id}@{self.agency}.lienthong>"
        message["X-Lienthong-Dossier"] = notice.dossier_code
        message.set_content(notice.text + "\n", charset="utf-8")
        return message

    def _send(self, recipient: str, data: bytes) -> bytes:
        """One session: MAIL, RCPT, DATA; the server's DATA reply."""
        if self.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            client.ehlo()
            if self.options.starttls:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if self.options.username_env:
                user = os.environ.get(self.options.username_env)
                password = os.environ.get(self.options.password_env or "")
                if not user or password is None:
                    raise TransientDeliveryError(
                        f"SMTP credentials not set: {self.options.username_env} / {self.options.password_env}"
                    )
                client.login(user, password)
            code, text = client.mail(self.options.from_address)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, text, self.options.from_address)
            code, text = client.rcpt(recipient)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({recipient: (code, text)})
            code, text = client.data(data)
            if code != 250:
                raise smtplib.SMTPDataError(code, text)
        return f"{code} ".encode() + text


SMTP_PLUGIN: AdapterSpec[SmtpOptions] = AdapterSpec(
    name="smtp",
    description="Notices to citizens by email, through an SMTP server (docs/notify.md).",
    factory=SmtpAdapter,
    options_model=SmtpOptions,
)
