"""``runwright validate`` and ``runwright schema``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from runwright.cli.app import EXIT_USAGE, app
from runwright.errors import ConfError, RunwrightError, TemplateError
from runwright.loader import build_model, conf_files, discover
from runwright.models.workflow import Workflow
from runwright.runtime import Runtime
from runwright.schedule.release_triggers import release_problems
from runwright.schema import template_file_schema
from runwright.templating.checks import expression_problems


@app.command()
def validate(
    path: Path | None = typer.Argument(None, help="A conf directory or one YAML file."),
) -> None:
    """Check every template; exit non-zero at the first file with errors, printing all of them."""
    runtime = Runtime.default()
    root = path or runtime.settings.conf_path
    try:
        files = conf_files(root)
    except ConfError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    try:
        sources = discover(root)
    except ConfError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    count = 0
    workflows = {}
    for file in files:
        errors = []
        for source in (s for s in sources.values() if s.file == file):
            try:
                built = build_model(source, runtime)
                problems = expression_problems(source.raw, runtime.expressions)
                if problems:
                    raise TemplateError(source.file, source.name, problems)
                count += 1
                if isinstance(built, Workflow):
                    workflows[source.name] = built
            except RunwrightError as exc:
                errors.append(str(exc))
        if errors:
            for message in errors:
                typer.echo(message, err=True)
            raise typer.Exit(EXIT_USAGE)
    names = {name for name, source in sources.items() if source.raw.get("type") == "Workflow"}
    problems = release_problems(workflows, known=names)  # on: release across templates
    if problems:
        for message in problems:
            typer.echo(message, err=True)
        raise typer.Exit(EXIT_USAGE)
    typer.echo(f"ok: {count} template(s) in {len(files)} file(s) are valid")


@app.command()
def schema(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file."),
) -> None:
    """Print the JSON Schema of a template file (for yaml-language-server and editors)."""
    text = json.dumps(template_file_schema(Runtime.default()), indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {output}")
    else:
        typer.echo(text)
