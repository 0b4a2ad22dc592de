"""The dashboard: 30 days of counts drawn as SVG, with the same numbers in a table."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.audit import AuditRecord
from app.auth.core.audit_log import record_event
from app.auth.core.clock import FrozenClock
from tests.admin.conftest import Admin
from tests.support.accounts import Accounts


async def test_todays_sign_ups_and_sign_ins_are_counted_in_chart_and_table(
    admin: Admin, accounts: Accounts, db: AsyncSession, clock: FrozenClock
) -> None:
    await accounts.create("ada@example.com")
    await accounts.login(admin.web.other_browser(), "ada@example.com")
    page = await admin.web.get("/admin/")
    assert page.status_code == 200
    today = clock.now().date().isoformat()
    # The admin and Ada joined today; both signed in today.
    assert re.search(r"Sign-ups <span class=\"muted\">\(2 in 30 days\)", page.text)
    assert re.search(r"Sign-ins <span class=\"muted\">\(2 in 30 days\)", page.text)
    assert f"<tr><td>{today}</td><td>2</td></tr>" in page.text
    assert page.text.count('role="img"') == 4
    assert page.text.count('<title id="chart-') == 4
    assert "50%</strong> with an authenticator app" in page.text


async def test_events_older_than_thirty_days_are_left_out(
    admin: Admin, db: AsyncSession, clock: FrozenClock
) -> None:
    for days_ago in (40, 3):
        record = AuditRecord(
            occurred_at=clock.now() - timedelta(days=days_ago), action="auth.login.failed", outcome="failure"
        )
        await record_event(db, record)
    await db.commit()
    page = await admin.web.get("/admin/")
    assert re.search(r"Failed sign-ins <span class=\"muted\">\(1 in 30 days\)", page.text)
