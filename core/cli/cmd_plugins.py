"""`genseg plugins ...`: what is installed, whether it loaded, and whether it is sound."""

from __future__ import annotations

from pathlib import Path

import typer

from genseg.cli.conventions import GensegCommand, GensegGroup
from genseg.cli.exit_codes import ExitCode
from genseg.cli.output import emit_json, json_option, json_to_stdout

plugins_app = typer.Typer(
    cls=GensegGroup,
    help="Inspect installed plugins.\n\nExample: genseg plugins list --json -",
    no_args_is_help=True,
)

_STATUS_STYLE = {"builtin": "cyan", "loaded": "green", "failing": "red"}


@plugins_app.command("list", cls=GensegCommand)
def list_plugins(json_out: Path | None = json_option("the plugin records")) -> None:
    """List plugins with their distribution, version, hooks and load status (errors included).

    Example: genseg plugins list
    """
    import warnings

    from genseg.plugins.manager import PluginWarning, load_plugins
    from genseg.plugins.registry import call_registrations

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)  # the table shows each failure
        call_registrations()
    records = load_plugins().records
    emit_json([r.to_json() for r in records], json_out)
    if json_to_stdout(json_out):
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table("name", "distribution", "version", "status", "hooks", title="genseg plugins")
    for r in records:
        status = f"[{_STATUS_STYLE.get(r.status, 'red')}]{r.status}[/]"
        notes = [f"[red]{escape(r.error)}[/]"] if r.error else []
        notes += [f"[red]{hook} raised: {escape(str(err))}[/]" for hook, err in r.hook_errors.items()]
        notes += [f"[yellow]{escape(w)}[/]" for w in r.warnings]
        table.add_row(
            r.name,
            r.distribution or "",
            r.version or "",
            "\n".join([status, *notes]),
            "\n".join(h.removeprefix("genseg_") for h in r.hooks),
        )
    console = Console()
    console.print(table)
    console.print(
        "loaded: the plugin imported and its registrations validated; "
        "`genseg plugins validate NAME` also imports what it names and calls its preprocessing hook"
    )


@plugins_app.command("validate", cls=GensegCommand)
def validate(
    name: str = typer.Argument(..., help="Plugin name as shown by `genseg plugins list`."),
    json_out: Path | None = json_option("the checks, warnings and problems"),
) -> None:
    """Call every hook of one plugin and check what it returns; exit 1 if anything is wrong.

    Example: genseg plugins validate medical
    """
    from genseg.plugins.validate import validate_plugin

    report = validate_plugin(name)
    emit_json(report.__dict__ | {"ok": report.ok}, json_out)
    if not json_to_stdout(json_out):
        for line in report.checks:
            typer.echo(f"ok       {line}")
        for line in report.warnings:
            typer.echo(f"warning  {line}")
        for line in report.problems:
            typer.echo(f"problem  {line}", err=True)
        typer.echo(f"{name}: {'valid' if report.ok else f'{len(report.problems)} problem(s)'}")
    if not report.ok:
        raise typer.Exit(ExitCode.CHECK_FAILED)


@plugins_app.command("new")
def new(
    name: str = typer.Argument(..., help="The new domain's name, e.g. histology or dental-xray."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Folder to create (must not exist).  [default: ./genseg-plugin-NAME]"
    ),
) -> None:
    """Create a plugin package from genseg's template: a domain, its vocabulary, a reader, a
    dataset and tests, all named after NAME, that loads and passes its tests as it is.

    Example: genseg plugins new histology
    """
    from genseg.plugins.scaffold import new_plugin

    folder, names = new_plugin(name, output)
    typer.echo(
        f"wrote {folder}/: distribution {names.distribution}, package {names.package}, domain {names.domain}"
    )
    typer.echo(f"next: cd {folder} && pip install -e . && pytest && genseg plugins validate {names.domain}")
