"""``runwright validate`` and ``runwright schema``."""

from __future__ import annotations

from pathlib import Path

import click
from click.exceptions import Exit

from runwright.cli.app import EXIT_USAGE, app, fail_usage
from runwright.cli.options import PATH


@app.command()
@click.argument("path", type=PATH, required=False, help="A conf directory or one YAML file.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    help="text, json (a list for editors, CI) or sarif (SARIF 2.1.0, code scanning).",
)
@click.option("--strict-env", is_flag=True, help="An unset ${VAR} is an error, not a warning")
@click.option("--conf", "-c", type=PATH, help="Conf path, as every other command takes it (same as PATH).")
def validate(path: Path | None, output_format: str, strict_env: bool, conf: Path | None) -> None:
    """Check every template of every file and print every problem at once.

    Each problem is ``file:line:col: error|warning: where: message [rule]`` (docs/validate.md
    lists the rules). Exit 2 when there is an error, else 0. Variables' values are not needed.
    """
    from runwright.check import check_conf
    from runwright.errors import ConfError
    from runwright.runtime import Runtime

    if path is not None and conf is not None and path != conf:
        raise fail_usage(f"give the conf path once: PATH '{path}' and --conf '{conf}' differ")
    runtime = Runtime.default()
    root = path or conf or runtime.settings.conf_path
    try:
        report = check_conf(root, runtime, strict_env=strict_env)
    except ConfError as exc:
        raise fail_usage(str(exc)) from None
    if output_format == "json":
        click.echo(report.json())
    elif output_format == "sarif":
        click.echo(report.sarif())
    else:
        if report.findings:
            click.echo(report.text())
        errors, warnings = len(report.errors), len(report.warnings)
        verdict = "ok" if not errors else "invalid"
        click.echo(
            f"{verdict}: {report.templates} template(s) in {report.files} file(s): "
            f"{errors} error(s), {warnings} warning(s)"
        )
    if report.errors:
        raise Exit(EXIT_USAGE)


@app.command()
@click.option("--output", "-o", type=PATH, help="Write to this file.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of a template file (for yaml-language-server and editors)."""
    import json

    from runwright.runtime import Runtime
    from runwright.schema import template_file_schema

    text = json.dumps(template_file_schema(Runtime.default()), indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(text)
