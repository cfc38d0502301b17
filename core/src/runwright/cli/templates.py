"""``runwright validate`` and ``runwright schema``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from runwright.cli.app import EXIT_USAGE, app, fail_usage
from runwright.errors import ConfError
from runwright.runtime import Runtime
from runwright.schema import template_file_schema


@app.command()
def validate(
    path: Path | None = typer.Argument(None, help="A conf directory or one YAML file."),
    output_format: str = typer.Option(
        "text",
        "--format",
        help="text, json (a list for editors, CI) or sarif (SARIF 2.1.0, code scanning).",
    ),
    strict_env: bool = typer.Option(False, "--strict-env", help="An unset ${VAR} is an error, not a warning"),
    conf: Path | None = typer.Option(
        None, "--conf", "-c", help="Conf path, as every other command takes it (same as PATH)."
    ),
) -> None:
    """Check every template of every file and print every problem at once.

    Each problem is ``file:line:col: error|warning: where: message [rule]`` (docs/validate.md
    lists the rules). Exit 2 when there is an error, else 0. Variables' values are not needed.
    """
    from runwright.check import check_conf

    if output_format not in ("text", "json", "sarif"):
        raise fail_usage(f"--format must be text, json or sarif, got '{output_format}'")
    if path is not None and conf is not None and path != conf:
        raise fail_usage(f"give the conf path once: PATH '{path}' and --conf '{conf}' differ")
    runtime = Runtime.default()
    root = path or conf or runtime.settings.conf_path
    try:
        report = check_conf(root, runtime, strict_env=strict_env)
    except ConfError as exc:
        raise fail_usage(str(exc)) from None
    if output_format == "json":
        typer.echo(report.json())
    elif output_format == "sarif":
        typer.echo(report.sarif())
    else:
        if report.findings:
            typer.echo(report.text())
        errors, warnings = len(report.errors), len(report.warnings)
        verdict = "ok" if not errors else "invalid"
        typer.echo(
            f"{verdict}: {report.templates} template(s) in {report.files} file(s): "
            f"{errors} error(s), {warnings} warning(s)"
        )
    if report.errors:
        raise typer.Exit(EXIT_USAGE)


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
