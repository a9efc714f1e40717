"""The columnar `FetchReply`: columns line up, and `messages` hands them out per message."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from libs.contracts import storage as contract
from services.storage import _fetch


def test_messages_are_the_columns_read_across() -> None:
    columns = {"uid": [3, 5], "modseq": [9, 11], "flags": [["\\Seen"], []], "envelope": ["{}", "[]"]}
    reply = contract.FetchReply.model_validate_json(json.dumps({"uidvalidity": 7, "next_uid": None, **columns}))
    first, second = reply.messages
    assert (first.uid, first.modseq, first.flags, first.envelope_dict(), first.size) == (3, 9, ["\\Seen"], {}, None)
    assert (second.uid, second.flags, second.envelope, second.headers) == (5, [], "[]", None)


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValidationError):
        contract.FetchReply.model_validate_json(b'{"uidvalidity":1,"uid":[1,2],"modseq":[1,2],"size":[10]}')
    with pytest.raises(ValidationError):
        contract.FetchReply.model_validate_json(b'{"uidvalidity":1,"uid":[1,2],"modseq":[1]}')


def test_columns_out_of_uid_order_are_sorted_by_uid() -> None:
    names = ["uid", "modseq", "flags"]
    arrays = ["[5,3]", "[11,9]", '[[],["\\\\Seen"]]']
    assert _fetch._in_uid_order(names, arrays) == ["[3,5]", "[9,11]", '[["\\\\Seen"],[]]']
    in_order = ["[3,5]", "[9,11]", "[[],[]]"]
    assert _fetch._in_uid_order(names, in_order) is in_order
