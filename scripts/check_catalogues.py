"""Fail when a translation catalogue is incomplete, fuzzy, broken, or out of date with the code.

Run by `make lint`. Needs GNU gettext's `msgfmt` (Debian's `gettext` package), as
`compilemessages` does. For each catalogue under locale/*/LC_MESSAGES/:

1. `msgfmt --check --statistics` must report every message translated: no untranslated and no
   fuzzy entry, and every translation keeps its placeholders (`%(name)s`, python-format).
2. The code must not mark a message the catalogue lacks, nor the catalogue keep one the code
   no longer marks: the sources are copied to a temporary folder and `makemessages` runs there
   (the working tree is left alone); the msgids it finds must equal the catalogue's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCALE = REPO / "locale"
# What makemessages reads besides the Django apps (tests, benchmarks and docs hold no shown text).
IGNORED = ["tests/*", "benchmarks/*", "docs/*", "var/*", "staticfiles/*", "scripts/*"]
_ENTRY = re.compile(r'^(msgctxt|msgid|msgid_plural) (".*")$')


def msgids(path: Path) -> set[tuple[str, str, str]]:
    """Return the (context, msgid, plural) of every live entry of a .po file, the header left out."""
    found: set[tuple[str, str, str]] = set()
    entry: dict[str, str] = {}
    field = None

    def close() -> None:
        if entry.get("msgid"):
            found.add((entry.get("msgctxt", ""), entry["msgid"], entry.get("msgid_plural", "")))
        entry.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        match = _ENTRY.match(line)
        if match:
            field = match.group(1)
            starts = field == "msgctxt" or (field == "msgid" and "msgid" in entry)
            if starts:
                close()
            entry[field] = _unquote(match.group(2))
        elif line.startswith('"') and field:
            entry[field] += _unquote(line)
        else:
            field = None
    close()
    return found


def _unquote(text: str) -> str:
    return text[1:-1].encode("utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")


def check_complete(po: Path) -> list[str]:
    """Return what msgfmt finds wrong with one catalogue."""
    result = subprocess.run(
        [_tool("msgfmt"), "--check", "--statistics", "-o", "/dev/null", str(po)],
        capture_output=True,
        text=True,
        check=False,
    )
    report = result.stderr.strip()
    problems = []
    if result.returncode != 0:
        problems.append(f"{po.relative_to(REPO)}: msgfmt --check failed:\n{report}")
    elif "untranslated" in report or "fuzzy" in report:
        problems.append(
            f"{po.relative_to(REPO)}: {report.splitlines()[-1]} (translate every entry, clear every fuzzy flag)"
        )
    return problems


def check_current(catalogues: list[Path]) -> list[str]:
    """Return the differences between the catalogues and what makemessages finds in the code now."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="baton-messages-") as scratch:
        copy = Path(scratch) / "repo"
        tracked = subprocess.run(
            [_tool("git"), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
        for name in filter(None, tracked):
            source = REPO / name.decode()
            if source.is_file():
                target = copy / name.decode()
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        languages = sorted({po.parent.parent.name for po in catalogues})
        for domain in sorted({po.stem for po in catalogues}):
            command = [sys.executable, "manage.py", "makemessages", "-d", domain, "--no-obsolete", "-v", "0"]
            command += ["--add-location=file"]
            command += [f"--locale={language}" for language in languages]
            command += [f"--ignore={pattern}" for pattern in IGNORED]
            env_var = {"BATON_VAR_DIR": str(Path(scratch) / "var"), "STATIC_ROOT": str(Path(scratch) / "static")}
            subprocess.run(command, cwd=copy, check=True, env={**_environment(), **env_var})
        for po in catalogues:
            fresh = copy / po.relative_to(REPO)
            wanted, kept = msgids(fresh), msgids(po)
            for context, msgid, _plural in sorted(wanted - kept):
                problems.append(f"{po.relative_to(REPO)}: the code marks {msgid!r} (context {context!r}), missing here")
            for context, msgid, _plural in sorted(kept - wanted):
                problems.append(
                    f"{po.relative_to(REPO)}: {msgid!r} (context {context!r}) is no longer marked in the code"
                )
    if problems:
        problems.append(
            "run: .venv/bin/python manage.py makemessages -l zh_Hans (and -d djangojs), translate, and commit"
        )
    return problems


def _tool(name: str) -> str:
    """Return the full path of a program on PATH (gettext's msgfmt, git)."""
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} is missing (msgfmt: apt-get install gettext)")
    return path


def _environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "CELERY_BROKER_URL")}


def main() -> int:
    catalogues = sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))
    if not catalogues:
        print("no catalogue under locale/", file=sys.stderr)
        return 1
    if shutil.which("msgfmt") is None:
        print("msgfmt is missing: apt-get install gettext", file=sys.stderr)
        return 1
    problems = [problem for po in catalogues for problem in check_complete(po)]
    problems += check_current(catalogues)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"catalogues complete and current: {', '.join(str(po.relative_to(REPO)) for po in catalogues)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
