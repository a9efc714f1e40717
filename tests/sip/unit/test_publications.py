"""PUBLISH rules of RFC 3903 section 6 on explicit time: initial, refresh, modify, remove, expiry, 412."""

from __future__ import annotations

import itertools

from services.sip import _pidf as pidf
from services.sip._publications import PublishDone, PublishRefused, apply_publish, live

OPEN = pidf.basic_document("sip:a@x", open_=True, tuple_id="t1").encode()
CLOSED = pidf.basic_document("sip:a@x", open_=False, tuple_id="t1").encode()
_tags = (f"etag{i}" for i in itertools.count())


def publish(pubs, *, if_match=None, body=b"", expires=600, now=1000.0, ctype=pidf.CONTENT_TYPE):  # type: ignore[no-untyped-def]
    return apply_publish(pubs, if_match=if_match, body=body, content_type=ctype, expires=expires, now=now,
                         new_etag=lambda: next(_tags))  # fmt: skip


def test_initial_publication_gets_an_etag_and_expiry() -> None:
    done = publish([], body=OPEN)
    assert isinstance(done, PublishDone) and done.changed and done.etag
    assert done.publications[0].expires_at == 1600.0


def test_initial_publication_without_a_body_is_refused() -> None:
    assert publish([]) == PublishRefused(400, "Bad Request (an initial PUBLISH needs a body)")


def test_malformed_pidf_and_wrong_content_type_are_refused() -> None:
    refused = publish([], body=b"<presence")
    assert isinstance(refused, PublishRefused) and refused.status == 400
    refused = publish([], body=b"hello", ctype="text/plain")
    assert isinstance(refused, PublishRefused) and refused.status == 415
    assert ("Accept", pidf.CONTENT_TYPE) in refused.headers


def test_refresh_extends_and_changes_the_etag_but_not_the_state() -> None:
    first = publish([], body=OPEN)
    assert isinstance(first, PublishDone)
    refreshed = publish(first.publications, if_match=first.etag, expires=900, now=1100.0)
    assert isinstance(refreshed, PublishDone)
    assert not refreshed.changed and refreshed.etag != first.etag
    assert refreshed.publications[0].expires_at == 2000.0
    # the old tag is no longer good
    assert publish(refreshed.publications, if_match=first.etag, now=1100.0).status == 412  # type: ignore[union-attr]


def test_modify_replaces_the_document_and_remove_drops_it() -> None:
    first = publish([], body=OPEN)
    other = publish(first.publications, body=CLOSED)  # a second device
    assert isinstance(first, PublishDone) and isinstance(other, PublishDone) and len(other.publications) == 2
    modified = publish(other.publications, if_match=first.etag, body=CLOSED)
    assert isinstance(modified, PublishDone) and modified.changed
    assert [p.pidf for p in modified.publications] == [CLOSED.decode(), CLOSED.decode()]
    removed = publish(modified.publications, if_match=modified.etag, expires=0)
    assert isinstance(removed, PublishDone) and removed.changed and removed.etag is None
    assert len(removed.publications) == 1


def test_an_expired_publication_cannot_be_refreshed_and_is_not_live() -> None:
    first = publish([], body=OPEN, expires=60, now=1000.0)
    assert isinstance(first, PublishDone)
    assert live(first.publications, 1059.0) and not live(first.publications, 1060.0)
    late = publish(first.publications, if_match=first.etag, now=1061.0)
    assert isinstance(late, PublishRefused) and late.status == 412
