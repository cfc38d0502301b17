"""Built-in stage kinds, one file each, registered through the stage-type hook.

A runtime imports a built-in kind's module on first use (a template that holds its key), not at
start: a template of ``echo:`` stages never imports the ``bash:`` and ``run:`` machinery. Each
module is then registered as a plugin like any other, and its ``register_stage_types`` hook is
called. A built-in kind's raw text fields (``${VAR}`` left for the shell) are its own key only,
so loading the kinds a template names before substituting its environment finds them all.
"""

BUILTIN_STAGE_MODULES: dict[str, str] = {
    "echo": "runwright.stages.echo",
    "bash": "runwright.stages.bash",
    "run": "runwright.stages.py",
    "deps": "runwright.stages.py_venv",
    "uses": "runwright.stages.call",
    "raise": "runwright.stages.raise_",
    "parallel": "runwright.stages.parallel",
    "foreach": "runwright.stages.foreach",
    "case": "runwright.stages.case",
    "until": "runwright.stages.until",
    "trigger": "runwright.stages.trigger",
}
"""A built-in stage kind's key -> the module (a plugin) that registers it."""
