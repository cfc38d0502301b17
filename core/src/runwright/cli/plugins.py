"""``runwright plugins``: what is loaded, from which distribution, providing what."""

from __future__ import annotations

import json

import typer

from runwright.cli.app import app
from runwright.plugins import describe_plugins, get_plugin_manager


@app.command()
def plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List every loaded plugin with its distribution, version and what it provides."""
    infos = describe_plugins(get_plugin_manager())
    if as_json:
        typer.echo(json.dumps([info.__dict__ for info in infos], indent=2))
        return
    for info in infos:
        typer.echo(f"{info.name}  ({info.distribution} {info.version})")
        for what, names in info.provides.items():
            if names:
                typer.echo(f"    {what}: {', '.join(names)}")
