from services.pop3.protocol import Reply, RespCode
from services.pop3.protocol.replies import signing_off


def test_status_lines_with_and_without_a_response_code() -> None:
    assert Reply(True, "done").to_bytes() == b"+OK done\r\n"
    assert Reply(True, "").to_bytes() == b"+OK\r\n"
    assert Reply(False, "locked", RespCode.IN_USE).to_bytes() == b"-ERR [IN-USE] locked\r\n"


def test_multi_line_replies_are_byte_stuffed_and_terminated() -> None:
    reply = Reply(True, "list", lines=("a", ".b", "."))
    assert reply.to_bytes() == b"+OK list\r\na\r\n..b\r\n..\r\n.\r\n"


def test_signing_off_counts_deleted_messages() -> None:
    assert signing_off("h", 1).text == "h POP3 server signing off (1 message deleted)"
    assert signing_off("h", 2).text.endswith("(2 messages deleted)")
    assert signing_off("h").text == "h POP3 server signing off"
