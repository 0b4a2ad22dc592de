"""Two restores of one remember-me cookie at the same time (two tabs): one rotation, then RACE [26].

On the core's own `restore`, over the database (the host's `app` and `db` fixtures, as in
test_mail_token_rules.py; two more sessions on the same engine play the two tabs). The first restore has rotated the validator but not committed yet when
the second one starts; the second must wait for it and then see the rotation. If it read the row
without waiting, both would rotate, the browser could keep the cookie whose validator the database
forgot, and its next restore would be taken for theft.
"""

from __future__ import annotations

import asyncio

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.core.remember import RememberVerdict
from app.auth.core.remember_store import remember_user, restore
from app.auth.core.toolkit import security_of


async def test_a_restore_racing_an_uncommitted_rotation_waits_and_gets_race(
    app: Litestar, db: AsyncSession
) -> None:
    security = security_of(app)
    engine = db.bind
    user = security.users()
    user.email = user.email_canonical = "ada@example.com"
    user.confirmed_at = security.clock.now()
    db.add(user)
    await db.flush()
    _, cookie = await remember_user(db, user, "a laptop", security)
    await db.commit()

    async with AsyncSession(engine) as first, AsyncSession(engine) as second:
        won = await restore(first, cookie, security)  # rotated, not committed
        assert won.verdict is RememberVerdict.VALID
        assert won.new_cookie is not None
        racing = asyncio.create_task(restore(second, cookie, security))
        await asyncio.sleep(0.3)  # the second restore has read (or is waiting to read) the row
        await first.commit()
        lost = await asyncio.wait_for(racing, 10)
        await second.commit()

    assert lost.verdict is RememberVerdict.RACE, "the second tab saw the first tab's rotation"
    assert lost.user is not None, "and is signed in all the same"
    assert lost.new_cookie is None, "without rotating again: the first tab's cookie stays the valid one"
    again = await restore(db, won.new_cookie, security)
    assert again.verdict is RememberVerdict.VALID
