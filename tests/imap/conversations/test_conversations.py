"""Every ``*.txt`` script here, played against the protocol core in memory."""

from pathlib import Path

import pytest

from libs.testing.conversation import load_script, play
from tests.imap.conversation import InMemoryChannel, config_from_options

SCRIPTS = sorted(Path(__file__).parent.glob("*.txt"))


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_conversation(path: Path) -> None:
    script = load_script(path)
    play(script, InMemoryChannel(config_from_options(script.options)))
