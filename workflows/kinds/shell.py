"""The ``shell`` task kind: a command run by the worker (its executor: ``executions.kinds.shell``).

Config: exactly one of ``script`` (non-empty string, run by ``/bin/sh -c``) or ``argv``
(non-empty list of strings, first one non-empty); optional ``cwd`` (non-empty string) and
``env`` (object: variable name → string or ``{"secret": string}``). Variable names must be
non-empty and contain neither ``=`` nor NUL; no string may contain NUL (``exec`` refuses it).
``env`` values may hold references (``${params.NAME}``, ``${nodes.KEY.outputs.NAME}``); the
script may not (``workflows.references``). The task publishes outputs by writing ``name=value``
lines to the file named by ``$BATON_OUTPUT`` (see ``executions.kinds.outputs``).
Defining one needs the ``define_shell_task`` permission (SPEC §2): it runs any code on the worker.
"""

from __future__ import annotations

from collections.abc import Mapping

from baton.text import _
from workflows.kinds.declaration import CheckContext, Permission, Problems, TaskKind
from workflows.kinds.fields import string_map_problems

PERMISSION = Permission("define_shell_task", "Can define shell tasks")


def config_problems(config: Mapping[str, object], context: CheckContext) -> Problems:
    """Return the problems of a shell task's config."""
    problems: Problems = []
    has_script, has_argv = "script" in config, "argv" in config
    if has_script == has_argv:
        problems.append(("config", _("must have exactly one of 'script' or 'argv'")))
    if has_script:
        script = config["script"]
        if not isinstance(script, str) or not script.strip():
            problems.append(("config.script", _("must be a non-empty string")))
        elif "\0" in script:
            problems.append(("config.script", _("must not contain a NUL character")))
    if has_argv:
        problems += _argv_problems(config["argv"])
    if "cwd" in config:
        cwd = config["cwd"]
        if not isinstance(cwd, str) or not cwd:
            problems.append(("config.cwd", _("must be a non-empty string")))
        elif "\0" in cwd:
            problems.append(("config.cwd", _("must not contain a NUL character")))
    if "env" in config:
        problems += string_map_problems("config.env", config["env"], _env_name_problem)
    return problems


def _argv_problems(argv: object) -> Problems:
    if not isinstance(argv, list) or not argv:
        return [("config.argv", _("must be a non-empty list of strings"))]
    problems: Problems = []
    for index, item in enumerate(argv):
        if not isinstance(item, str):
            problems.append((f"config.argv[{index}]", _("must be a string")))
        elif "\0" in item:
            problems.append((f"config.argv[{index}]", _("must not contain a NUL character")))
    if isinstance(argv[0], str) and not argv[0]:
        problems.append(("config.argv[0]", _("must be a non-empty string (the program to run)")))
    return problems


def _env_name_problem(name: str) -> str | None:
    if not name or "=" in name or "\0" in name:
        return _("must be a non-empty variable name without '=' or NUL")
    return None


KIND = TaskKind(
    name="shell",
    fields=("script", "argv", "cwd", "env"),
    check=config_problems,
    editor_config={"script": "echo hello"},
    permission=PERMISSION,
    reference_fields={"env": "text"},
    reference_hints={
        "script": _(
            "a reference is never spliced into script text (the value could inject commands); "
            'pass it in env, e.g. env: {"VERSION": "${nodes.build.outputs.version}"}, and use "$VERSION" in the script'
        ),
        "argv": _('a reference is not allowed in argv; pass it in env and read it from the environment ("$VERSION")'),
    },
)
