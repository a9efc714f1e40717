"""Every conversation script in this folder, played against the sans-I/O core in memory."""

from pathlib import Path

import pytest

from libs.testing.conversation import load_script, play
from tests.smtp.fakes import InMemoryChannel, config_from_options

SCRIPTS = sorted(Path(__file__).parent.glob("*.txt"))


def test_there_are_scripts() -> None:
    assert len(SCRIPTS) >= 30


@pytest.mark.parametrize("path", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_conversation(path: Path) -> None:
    script = load_script(path)
    play(script, InMemoryChannel(config_from_options(script.options)))
