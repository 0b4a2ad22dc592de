"""Outgoing mail: templates rendered to multipart messages, delivered by a job through a backend."""

from app.mail.message import Mail, send_mail

__all__ = ("Mail", "send_mail")
