"""Digest nonces: issued here and in time, each count once (RFC 7616 section 3.3 and 3.4)."""

from __future__ import annotations

from services.sip._nonces import NonceBook, NonceVerdict


def test_fresh_then_replayed_then_next_count() -> None:
    book = NonceBook(lifetime=300)
    nonce = book.issue(1000.0)
    assert book.check(nonce, nc="00000001", now=1001.0) is NonceVerdict.FRESH
    assert book.commit(nonce, nc="00000001", now=1001.0)
    assert book.check(nonce, nc="00000001", now=1002.0) is NonceVerdict.REPLAYED
    assert book.check(nonce, nc="00000002", now=1002.0) is NonceVerdict.FRESH


def test_without_qop_a_nonce_is_good_once() -> None:
    book = NonceBook(lifetime=300)
    nonce = book.issue(0.0)
    assert book.check(nonce, nc=None, now=1.0) is NonceVerdict.FRESH
    book.commit(nonce, nc=None, now=1.0)
    assert book.check(nonce, nc=None, now=2.0) is NonceVerdict.REPLAYED


def test_expired_foreign_and_garbage_nonces_are_stale() -> None:
    book = NonceBook(lifetime=300)
    nonce = book.issue(0.0)
    assert book.check(nonce, nc="00000001", now=301.0) is NonceVerdict.STALE
    assert book.check(NonceBook(lifetime=300).issue(0.0), nc="00000001", now=1.0) is NonceVerdict.STALE
    assert book.check("not-a-nonce", nc="00000001", now=1.0) is NonceVerdict.STALE
    assert book.check(nonce, nc="zz", now=1.0) is NonceVerdict.REPLAYED


def test_prune_forgets_expired_counts() -> None:
    book = NonceBook(lifetime=10)
    nonce = book.issue(0.0)
    book.commit(nonce, nc="00000001", now=1.0)
    book.prune(5.0)
    assert len(book) == 1
    book.prune(11.0)
    assert len(book) == 0
