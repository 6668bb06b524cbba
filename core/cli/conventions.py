"""What every genseg command has in common, set once here rather than in each command:
readable value names in ``--help`` (``TEXT``, ``PATH``, ``N``, ``[cpu|cuda]``; none for a
flag), defaults shown, and ``-q/--quiet``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import get_args, get_origin

from typer.core import TyperCommand, TyperGroup, TyperOption

QUIET_HELP = "No progress bars or notes: only errors, warnings and the result."

_NAMES = {int: "N", float: "NUMBER", str: "TEXT", Path: "PATH", bool: "BOOL"}


def _element(annotation):
    """``list[X]`` → X, ``X | None`` → X: what one value on the command line is."""
    if get_origin(annotation) is list:
        annotation = get_args(annotation)[0]
    args = [a for a in get_args(annotation) if a is not type(None)]
    return args[0] if len(args) == 1 else annotation


def readable_metavar(param) -> str:
    """The value name shown after an option or for an argument in ``--help``."""
    if getattr(param, "is_flag", False):
        return ""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None:  # a plain click parameter a plugin added
        return param.type.name.upper()
    if descriptor.is_choice:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in descriptor.choices) + "]"
    if descriptor.is_path:
        return "PATH"
    element = _element(descriptor.annotation)
    if isinstance(element, type) and issubclass(element, Enum):
        return "[" + "|".join(str(m.value) for m in element) + "]"
    return _NAMES.get(element, "TEXT")


def tidy(param) -> None:
    """Readable metavar (arguments: their name in capitals) unless the command set one."""
    if param.metavar is not None:
        return
    if param.param_type_name == "argument":
        kind = readable_metavar(param)
        param.metavar = param.name.upper()
        param.display_type_rich = lambda ctx: kind  # typer's type column ignores an argument's metavar
    else:
        param.metavar = readable_metavar(param)


def quiet_option() -> TyperOption:
    """``-q/--quiet`` as typer builds a ``bool`` option (through its public ``get_command``),
    handled by its callback rather than passed to the command."""
    import typer
    from typer.main import get_command

    from genseg.cli.output import set_quiet

    def _with_quiet(quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP)) -> None:
        pass

    helper = typer.Typer()
    helper.command()(_with_quiet)
    option = next(p for p in get_command(helper).params if p.name == "quiet")
    option.expose_value = False
    option.is_eager = True
    option.callback = lambda ctx, param, value: set_quiet(value)
    return option


class _Tidy:
    def get_params(self, ctx):
        params = super().get_params(ctx)  # includes --help, made on first use
        for param in params:
            tidy(param)
        return params

    def collect_usage_pieces(self, ctx) -> list[str]:
        """``genseg segment [OPTIONS] INPUTS...`` (typer writes ``{inputs}...``)."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name != "argument":
                continue
            name = param.metavar if param.required else f"[{param.metavar}]"
            pieces.append(name + ("..." if param.nargs != 1 else ""))
        if isinstance(self, TyperGroup):
            pieces.append(self.subcommand_metavar)
        return pieces


class GensegCommand(_Tidy, TyperCommand):
    """A genseg command: the conventions above, plus its own ``-q/--quiet``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        adopt(self)


class GensegGroup(_Tidy, TyperGroup):
    """A genseg command group: the commands it holds follow the conventions too, those a
    plugin adds (``genseg_register_commands``) included."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            adopt(command)

    def get_command(self, ctx, cmd_name: str):
        command = super().get_command(ctx, cmd_name)
        if command is not None and (help_option := command.get_help_option(ctx)) is not None:
            tidy(help_option)  # click makes --help when first asked for
        return command


def adopt(command) -> None:
    """Readable metavars for a command made elsewhere, and ``-q/--quiet`` if it has none."""
    taken = {opt for param in command.params for opt in param.opts}
    if not hasattr(command, "commands") and not taken & {"--quiet", "-q"}:
        command.params.append(quiet_option())
    for param in command.params:
        tidy(param)
