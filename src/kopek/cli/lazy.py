"""The command tree of ``kopek``, each command imported only when it runs or shows its own help.

Loading every command module means loading the database, web and dataframe stacks: about
a second before ``kopek --help`` could answer. The root group knows each command's name,
where it lives and a one-line summary; it imports the module of a command when the command
is resolved, and draws its own help from the summaries alone.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import typer
import typer.main

# Typer carries its own copy of click; its types are the ones its commands and contexts are made of.
from typer import _click as click
from typer.core import TyperGroup
from typer.models import CommandInfo


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """A command of the root group: ``target`` is ``module:attribute``, a Typer app (a group) or a function (a command)."""

    target: str
    summary: str


def load(name: str, command: LazyCommand) -> click.Command:
    """The click command of ``command``, its module imported now."""
    module, attribute = command.target.split(":")
    loaded = getattr(importlib.import_module(module), attribute)
    if isinstance(loaded, typer.Typer):
        group = typer.main.get_group(loaded)
        group.name = name
        return group
    info = CommandInfo(name=name, callback=loaded, context_settings={"help_option_names": ["--help", "-h"]})
    return typer.main.get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=None)


class LazyGroup(TyperGroup):
    """A root group: the commands of :attr:`lazy` beside those registered on the Typer app itself."""

    lazy: ClassVar[Mapping[str, LazyCommand]] = {}
    """Set by a subclass (see :mod:`kopek.cli.app`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in self.lazy:
            return found
        loaded = load(cmd_name, self.lazy[cmd_name])
        self.commands[cmd_name] = loaded
        return loaded

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The list of commands, from the summaries: drawing it imports no command module."""
        rows = [(name, self.lazy[name].summary) for name in sorted(self.lazy)]
        own = {name: command for name, command in self.commands.items() if name not in self.lazy}
        rows += [(name, command.get_short_help_str(formatter.width)) for name, command in own.items()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))
