"""Artifact names every store accepts: relative, normalised, inside the run, not reserved.

A store keeps an artifact under its name; in the file store that name is a path below the
run directory, so ``"../../x"``, ``"/etc/x"`` or ``"./run.json"`` would write outside the
run or over its own files. :func:`artifact_name` is the one check all stores apply, so a
name means the same thing (and is refused for the same reason) in each of them.
"""

from __future__ import annotations

import posixpath

#: the run's own files in the file store, in any spelling or case (on a case-insensitive
#: disk ``Run.json`` is ``run.json``); refused as artifact names in every store
RESERVED_NAMES = frozenset({"run.json", "config.json", "cout.txt", "metrics.json",
                            "info.json", "metrics.journal"})
#: prefix of the file store's working files (swap files, half-copied artifacts)
WORKING_PREFIX = ".pytest-sacred-"


class ArtifactNameError(ValueError):
    """An artifact name no store can keep as given; the message names the rule."""


def artifact_name(name: str) -> str:
    """``name`` normalised to a POSIX path relative to the run, or ``ArtifactNameError``.

    Backslashes count as separators (the same name works on every OS); ``.`` parts and
    repeated slashes are dropped and ``..`` goes up a level, which must not leave the
    run. Refused: empty names, absolute paths (``/x``, ``C:\\x``), NUL characters, names
    whose first part is reserved (:data:`RESERVED_NAMES`), and parts starting with
    :data:`WORKING_PREFIX`.
    """
    __tracebackhide__ = True  # a user's bad name: pytest shows the line that gave it
    if not isinstance(name, str):
        raise ArtifactNameError(f"artifact name {name!r} is a {type(name).__name__}; "
                                "give a string")

    def refuse(rule: str) -> ArtifactNameError:
        return ArtifactNameError(f"artifact name {name!r} {rule}")

    if "\0" in name:
        raise refuse("contains a NUL character; give a name without it")
    text = name.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":" and text[0].isalpha()):
        raise refuse("is an absolute path; artifact names are relative to the run "
                     "directory, e.g. 'plots/loss.png'")
    parts: list[str] = []
    for part in text.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise refuse("leads outside the run directory ('..' above its top); give a "
                             "name inside it, e.g. 'plots/loss.png'")
            parts.pop()
            continue
        if part.startswith(WORKING_PREFIX):
            raise refuse(f"has a part starting with {WORKING_PREFIX!r}, which the file store "
                         "keeps for its working files; rename it")
        parts.append(part)
    if not parts:
        raise refuse("is empty once normalised; give a file name")
    if parts[0].lower() in RESERVED_NAMES:
        raise refuse(f"is the run's own file {parts[0].lower()!r} (reserved: "
                     f"{', '.join(sorted(RESERVED_NAMES))}); give the artifact another name")
    return posixpath.join(*parts)
