"""`interleaf-train --help` and `interleaf-generate --help` show runnable examples."""

from __future__ import annotations

import pytest

from trainer import generate, train


@pytest.mark.parametrize(
    ("parse", "command"),
    [(train.parse_args, "interleaf-train"), (generate.parse_args, "interleaf-generate")],
)
def test_help_has_examples_of_the_command(parse, command, capsys):
    with pytest.raises(SystemExit) as e:
        parse(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"{command} --" in out
