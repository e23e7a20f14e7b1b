"""The CLI's lazy command table stays true: each command is registered by the module it names."""

from __future__ import annotations

import pytest

from microbiome_lm.cli import COMMANDS, build_parser


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_is_registered_by_its_module(command):
    parser = build_parser(command)
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert command in subparsers.choices


def test_full_parser_lists_every_command():
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(subparsers.choices) == set(COMMANDS)
