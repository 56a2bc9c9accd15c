"""Canonical request paths: the one spelling every respelling of a path maps to, for matching scored paths.

A respelling the app routes to the same handler must never skip scoring, so this errs on the side of merging:
the query and fragment go, percent-escapes are decoded (repeatedly: a double-encoded path is decoded too),
`;parameters` are dropped from segments, backslashes count as slashes, dot segments are resolved, empty
segments (duplicate and trailing slashes) dropped, and the result is lower-cased. Pure.
"""

from __future__ import annotations

from urllib.parse import unquote

_MAX_DECODES = 4


def canonical_path(raw: str) -> str:
    """`/V1//chat/./Completions/?x=1` → `/v1/chat/completions`."""
    path = raw.split("?", 1)[0].split("#", 1)[0]
    for _ in range(_MAX_DECODES):
        decoded = unquote(path, errors="replace")
        if decoded == path:
            break
        path = decoded
    segments: list[str] = []
    for segment in path.replace("\\", "/").split("/"):
        segment = segment.split(";", 1)[0].strip().lower()
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return "/" + "/".join(segments)
