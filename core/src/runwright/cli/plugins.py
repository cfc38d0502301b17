"""``runwright plugins``: what is loaded, from which distribution, providing what."""

from __future__ import annotations

import click

from runwright.cli.app import app
from runwright.cli.options import json_option


@app.command()
@json_option("Print JSON.")
def plugins(as_json: bool) -> None:
    """List every loaded plugin with its distribution, version and what it provides."""
    import json

    from runwright.plugins import describe_plugins, get_plugin_manager

    infos = describe_plugins(get_plugin_manager())
    if as_json:
        click.echo(json.dumps([info.__dict__ for info in infos], indent=2))
        return
    for info in infos:
        click.echo(f"{info.name}  ({info.distribution} {info.version})")
        for what, names in info.provides.items():
            if names:
                click.echo(f"    {what}: {', '.join(names)}")
