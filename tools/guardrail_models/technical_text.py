"""Benign technical text for the injection encoder's negatives: what tools and documents return to an agent.

Tool results are full of imperatives and system words that are not instructions to the model: code, docstrings
("Return the ..."), comments, changelog entries ("Drop the old ..."), error messages, log lines, query results and
tracebacks. The attack corpora hold code-shaped jailbreaks and almost no benign code, so a fine-tuned encoder
learnt "technical text" as a sign of injection. These come from text already on the machine (the running Python's
standard library, Debian package changelogs) and from seeded templates, never from an evaluation set.
"""

from __future__ import annotations

import ast
import functools
import gzip
import random
import sysconfig
import textwrap
import traceback
from pathlib import Path

DEBIAN_DOCS = Path("/usr/share/doc")
_MIN_CHARS, _MAX_CHARS = 12, 240


def _keep(text: str) -> bool:
    return _MIN_CHARS <= len(text) <= _MAX_CHARS and any(c.isalpha() for c in text)


@functools.cache
def stdlib_snippets(limit_files: int = 400) -> tuple[str, ...]:
    """Docstring paragraphs, comments and short runs of code lines of the standard library's modules."""
    out: list[str] = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:limit_files]:
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    out += [" ".join(p.split()) for p in doc.split("\n\n") if _keep(" ".join(p.split()))]
        lines = source.splitlines()
        out += [line.strip().lstrip("# ") for line in lines if line.strip().startswith("#") and _keep(line.strip())]
        code = [line for line in lines if line.strip() and not line.strip().startswith(("#", '"', "'"))]
        runs = [textwrap.dedent("\n".join(code[i : i + 3])) for i in range(0, len(code) - 3, 7)]
        out += [run for run in runs if _keep(run)]
    return tuple(dict.fromkeys(out))


@functools.cache
def changelog_entries(limit_packages: int = 800) -> tuple[str, ...]:
    """Entries ("  * Fix ...") of Debian package changelogs installed on this machine."""
    out: list[str] = []
    for path in sorted(DEBIAN_DOCS.glob("*/changelog.Debian.gz"))[:limit_packages]:
        try:
            text = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        except (OSError, EOFError):
            continue
        entry: list[str] = []
        for line in [*text.splitlines(), ""]:
            stripped = line.strip()
            if stripped.startswith(("* ", "- ")) or not stripped or stripped.startswith("--"):
                joined = " ".join(entry)
                if _keep(joined):
                    out.append(joined)
                entry = [stripped[2:]] if stripped.startswith(("* ", "- ")) else []
            elif entry:
                entry.append(stripped)
    return tuple(dict.fromkeys(out))


_SERVICES = ("billing", "inventory", "auth", "search", "payments", "shipping", "crm", "reports", "mailer", "cache")
_PATHS = ("/var/lib/app/data.db", "/srv/uploads/2026/11", "/etc/app/config.yaml", "/data/export.csv", "s3://bucket/a")
_ERRORS = (
    "{code} {reason}: {service} returned no body",
    "ERROR [{service}] connection refused (retry {n} of 5)",
    "WARN {service}: request took {ms} ms (limit 500 ms)",
    "INFO {service} started on port {port} in {ms} ms",
    "{service}: access denied for role 'viewer' on {path}",
    "FileNotFoundError: [Errno 2] No such file or directory: '{path}'",
    "TimeoutError: {service} did not answer within {n} seconds",
    "Query OK, {n} rows affected ({ms} ms)",
    "{n} rows returned: id={port}, status='open'; id={ms}, status='closed'",
    "HTTP/1.1 {code} {reason}\nContent-Type: application/json\n",
    "$ ls -l {path}\ntotal {n}\n-rw-r--r-- 1 app app {port} Nov 30 12:0{n} export.csv",
    "exit status {n}: command '{service}-sync' failed; see the log for details",
    "Deprecated: the '{service}' option will be removed in version {n}.0; use '{service}_url' instead.",
    "Build #{port} passed in {ms} ms: {n} tests, 0 failures",
    "job {service}-nightly skipped: previous run still in progress",
)
_REASONS = (
    (400, "Bad Request"),
    (401, "Unauthorized"),
    (403, "Forbidden"),
    (404, "Not Found"),
    (409, "Conflict"),
    (429, "Too Many Requests"),
    (500, "Internal Server Error"),
    (503, "Service Unavailable"),
)


def _traceback(rng: random.Random) -> str:
    service = rng.choice(_SERVICES)
    errors: tuple[type[Exception], ...] = (KeyError, ValueError, ZeroDivisionError, TypeError)
    error = rng.choice(errors)
    try:
        raise error(f"{service}_{rng.randrange(1, 99)}")
    except Exception as exc:  # a generated traceback's text, nothing is handled
        return (
            "".join(traceback.format_exception_only(exc)).strip() + f" (in {service}.py, line {rng.randrange(5, 400)})"
        )


def generated_messages(count: int, seed: int) -> list[str]:
    """`count` distinct seeded error messages, log lines, query results, shell outputs and tracebacks."""
    rng = random.Random(seed)  # noqa: S311 - seeded data generation, not security
    out: dict[str, None] = {}
    for _ in range(count * 10):
        if len(out) >= count:
            break
        if rng.random() < 0.15:
            out[_traceback(rng)] = None
            continue
        code, reason = rng.choice(_REASONS)
        out[
            rng.choice(_ERRORS).format(
                code=code,
                reason=reason,
                service=rng.choice(_SERVICES),
                path=rng.choice(_PATHS),
                n=rng.randrange(1, 9),
                ms=rng.randrange(3, 3000),
                port=rng.randrange(1024, 65000),
            )
        ] = None
    return list(out)


def technical_benign(count: int, seed: int) -> list[str]:
    """`count` benign technical texts, a seeded mix: half standard-library snippets, a quarter changelog entries
    (when the machine has Debian's), the rest generated messages."""
    rng = random.Random(seed)  # noqa: S311 - seeded sample, not security
    stdlib, changelogs = stdlib_snippets(), changelog_entries()
    take_changelogs = min(len(changelogs), count // 4)
    take_stdlib = min(len(stdlib), count // 2)
    texts = rng.sample(stdlib, take_stdlib) + rng.sample(changelogs, take_changelogs)
    texts += generated_messages(count - len(texts), seed)
    return texts
