"""Storage schema migrations over existing data."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from libs.db import create_engine
from libs.db.migrations import upgrade_async


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_full_text_rows_learn_their_mailbox_and_uid(database_url: str) -> None:
    await upgrade_async("storage", database_url, "0001")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO mailboxes (id, account, name, uidvalidity, uidnext, highest_modseq, subscribed,"
                    " created_at) VALUES (7, 'a@example.test', 'INBOX', 1, 43, 2, true, now())"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO messages (id, mailbox_id, uid, modseq, blob, size, internal_date, seen, answered,"
                    " flagged, deleted, draft, keywords, envelope, structure, subject, base_subject, from_text,"
                    ' to_text, cc_text, bcc_text, message_id, in_reply_to, "references") VALUES (5, 7, 42, 2,'
                    " repeat('a', 64), 10, now(), false, false, false, false, false, '', '{}', '{}', '', '', '',"
                    " '', '', '', '', '', '')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO message_fts (message_id, headers, body)"
                    " VALUES (5, to_tsvector('simple', 'x'), to_tsvector('simple', 'hello'))"
                )
            )
        await upgrade_async("storage", database_url)
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT mailbox_id, uid FROM message_fts WHERE message_id = 5"))).one()
        assert tuple(row) == (7, 42)
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "database_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_access_control_lists_arrive_on_an_existing_schema(database_url: str) -> None:
    await upgrade_async("storage", database_url, "0002")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO mailboxes (id, account, name, uidvalidity, uidnext, highest_modseq, subscribed,"
                    " created_at) VALUES (7, 'a@example.test', 'Projects', 1, 1, 1, true, CURRENT_TIMESTAMP)"
                )
            )
        await upgrade_async("storage", database_url)
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO mailbox_acl (mailbox_id, identifier, rights) VALUES (7, 'b@example.test', 'lr')")
            )
            rows = (await conn.execute(text("SELECT mailbox_id, rights FROM mailbox_acl"))).all()
            assert [tuple(r) for r in rows] == [(7, "lr")]
            # The list goes with its mailbox.
            await conn.execute(text("DELETE FROM mailboxes WHERE id = 7"))
            assert (await conn.execute(text("SELECT count(*) FROM mailbox_acl"))).scalar() == 0
    finally:
        await engine.dispose()
