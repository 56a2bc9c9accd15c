"""`guardrail kb`: ingest documents into a versioned knowledge base, inspect it, search it, snapshot it."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from guardrail_contract.sidecar_config import KnowledgeBase as KnowledgeBaseConfig
from guardrail_contract.sidecar_config import QdrantConfig
from guardrail_kb import snapshot as snapshots
from guardrail_kb.chunking import ChunkSettings
from guardrail_kb.embedding import Embedder, OnnxEmbedder, ServerEmbedder
from guardrail_kb.errors import KnowledgeBaseError
from guardrail_kb.ingest import Options, Report, ingest_documents, read_all
from guardrail_kb.injection import load_injection
from guardrail_kb.poisoning import Thresholds
from guardrail_kb.store import KnowledgeBaseStore, check_name, connect
from guardrail_models.repository import default_repository
from guardrail_sidecar.scoring.knowledge import KnowledgeStore

DEFAULT_PATH = ".guardrail/qdrant"
T = TypeVar("T")
console = Console(stderr=True)


def _store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "--collection",
                "-c",
                required=True,
                envvar="GUARDRAIL_KB_COLLECTION",
                help="knowledge base name (the alias the sidecar searches)",
            ),
            click.option(
                "--qdrant-path",
                type=click.Path(file_okay=False),
                default=None,
                help=f"embedded Qdrant folder [default: {DEFAULT_PATH}]",
            ),
            click.option("--qdrant-url", default=None, help="Qdrant server URL instead of an embedded folder"),
            click.option("--api-key-env", default=None, help="environment variable holding the Qdrant API key"),
        ]
    ):
        command = option(command)
    return command


def _open(
    collection: str, qdrant_path: str | None, qdrant_url: str | None, api_key_env: str | None
) -> KnowledgeBaseStore:
    check_name(collection)  # before connecting: an embedded folder is created on first use
    path = qdrant_path if qdrant_path or qdrant_url else DEFAULT_PATH
    return KnowledgeBaseStore(connect(path=path, url=qdrant_url, api_key_env=api_key_env), collection)


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one command's coroutine; knowledge-base errors become a clear message and exit status 1."""
    try:
        return asyncio.run(work())
    except KnowledgeBaseError as exc:
        raise click.ClickException(str(exc)) from exc


def _command(func: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> None:
        _run(lambda: func(**kwargs))

    return wrapper


@click.group("kb")
def kb() -> None:
    """Versioned knowledge bases in Qdrant: what the sidecar retrieves evidence from."""


@kb.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_store_options
@click.option("--chunk-size", default=600, show_default=True, help="largest chunk, in characters (whole sentences)")
@click.option("--chunk-overlap", default=120, show_default=True, help="characters of trailing sentences repeated")
@click.option(
    "--retain",
    default=3,
    show_default=True,
    type=click.IntRange(1, 100),
    help="versions kept after ingestion (the live one included)",
)
@click.option("--keep", multiple=True, help="a version never collected (e.g. pinned by a guardrail revision)")
@click.option(
    "--injection-threshold",
    default=Thresholds().injection,
    show_default=True,
    help="quarantine chunks whose most instruction-like sentence scores this (patterns score 1)",
)
@click.option(
    "--duplicate-threshold", default=0.9, show_default=True, help="cosine of near-duplicates checked for contradictions"
)
@click.option(
    "--related-threshold", default=0.4, show_default=True, help="cosine of chunks whose sentences are compared"
)
@click.option(
    "--outlier-z", default=4.0, show_default=True, help="quarantine chunks this many std devs from the corpus"
)
@click.option(
    "--model-repository",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="models (embedding, injection) [default: the project's]",
)
@click.option(
    "--embedding-url", default=None, help="host:port of a v2 (Triton) gRPC server embedding instead of onnxruntime"
)
@click.option(
    "--embedding-model",
    default="embedding:1",
    show_default=True,
    help="NAME:VERSION of the embedding model on that server (its tokenizer.json is read from the repository)",
)
@click.option("--strict", is_flag=True, help="fail without writing anything if any file is unreadable")
@click.option(
    "--summary-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write the summary as JSON here (a Job: /dev/termination-log)",
)
@_command
async def ingest_command(
    paths: tuple[Path, ...],
    collection: str,
    qdrant_path: str | None,
    qdrant_url: str | None,
    api_key_env: str | None,
    chunk_size: int,
    chunk_overlap: int,
    retain: int,
    keep: tuple[str, ...],
    injection_threshold: float,
    duplicate_threshold: float,
    related_threshold: float,
    outlier_z: float,
    model_repository: Path | None,
    embedding_url: str | None,
    embedding_model: str,
    strict: bool,
    summary_file: Path | None,
) -> None:
    """Read PATHS (files or folders of .md, .txt, .html, .jsonl), chunk, embed, screen and publish a version."""
    try:
        thresholds = Thresholds(
            injection=injection_threshold, duplicate=duplicate_threshold, related=related_threshold, outlier_z=outlier_z
        )
        chunking = ChunkSettings(size=chunk_size, overlap=chunk_overlap)
        options = Options(chunking=chunking, thresholds=thresholds, retain=retain, pinned=frozenset(keep))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    documents, errors = read_all(paths)
    for error in errors:
        console.print(f"[red]unreadable:[/] {error}")
    if not documents:
        raise click.ClickException("no readable document in " + " ".join(map(str, paths)) + ": nothing ingested")
    if errors and strict:
        raise click.ClickException(f"{len(errors)} unreadable file(s) and --strict: nothing ingested")
    repository = model_repository or default_repository()
    embedder: Embedder
    name, _, version = embedding_model.partition(":") if embedding_url else ("embedding", "", "1")
    tokenizer = repository / name / (version or "1") / "tokenizer.json"  # the injection check cuts windows with it
    if embedding_url:
        embedder = ServerEmbedder(embedding_url, tokenizer, name, version or "1")
    else:
        embedder = OnnxEmbedder(repository)
    store = _open(collection, qdrant_path, qdrant_url, api_key_env)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            tasks: dict[str, Any] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done)

            injection = load_injection(repository, tokenizer)
            report = await ingest_documents(store, embedder, documents, options, errors, injection, progress=progress)
    finally:
        await embedder.close()
        await store.client.close()
    _print_report(report)
    if summary_file is not None and report.record is not None:
        summary = json.dumps({**report.record.summary(), "unreadable": len(report.errors)})
        await asyncio.to_thread(summary_file.write_text, summary)


def _print_report(report: Report) -> None:
    if report.unchanged:
        console.print(f"[green]unchanged[/]: version {report.version} is already live; nothing written")
    else:
        console.print(
            f"[green]live[/]: {report.record.name if report.record else ''} → version {report.version} "
            f"(was {report.previous or 'none'})"
        )
    table = Table(show_header=False, box=None)
    rows = [
        ("documents", report.documents),
        ("chunks served", report.chunks),
        ("quarantined", report.quarantined),
        ("added", report.added),
        ("removed", report.removed),
        ("embedded", report.embedded),
        ("read by the injection model", report.screened),
        ("unreadable files", len(report.errors)),
        ("versions deleted", ", ".join(report.deleted_versions) or "-"),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)
    if report.quarantined:
        console.print("see the quarantined chunks with `guardrail kb stats --quarantined`")


@kb.command("stats")
@_store_options
@click.option("--quarantined", is_flag=True, help="list the quarantined chunks of the live version")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of tables")
@_command
async def stats(
    collection: str,
    qdrant_path: str | None,
    qdrant_url: str | None,
    api_key_env: str | None,
    quarantined: bool,
    as_json: bool,
) -> None:
    """The live version, every retained version, and (--quarantined) what was kept out and why."""
    store = _open(collection, qdrant_path, qdrant_url, api_key_env)
    try:
        live = await store.live_version()
        records = sorted(await store.records(), key=lambda r: r.sequence, reverse=True)
    finally:
        await store.client.close()
    current = next((r for r in records if r.version == live), None)
    if as_json:
        data: dict[str, Any] = {"live": live, "versions": [r.summary() for r in records]}
        if quarantined and current is not None:
            data["quarantine"] = [q.__dict__ for q in current.quarantine]
        click.echo(json.dumps(data, indent=2))
        return
    table = Table(
        "version", "created", "documents", "chunks", "quarantined", "live", title=f"knowledge base {collection}"
    )
    for r in records:
        table.add_row(
            r.version,
            r.created_at,
            str(r.documents),
            str(r.chunks),
            str(r.quarantined),
            "✓" if r.version == live else "",
        )
    Console().print(table)
    if quarantined and current is not None:
        qt = Table("source", "pos", "check", "score", "why", "text", title="quarantined (never served)")
        for q in current.quarantine:
            qt.add_row(q.source, str(q.position), q.check, f"{q.score:.2f}", q.detail, q.text[:80])
        Console().print(qt)


@kb.command("search")
@click.argument("query")
@_store_options
@click.option("--top-k", default=4, show_default=True, help="passages returned")
@click.option("--model-repository", type=click.Path(file_okay=False, path_type=Path), default=None)
@_command
async def search(
    query: str,
    collection: str,
    qdrant_path: str | None,
    qdrant_url: str | None,
    api_key_env: str | None,
    top_k: int,
    model_repository: Path | None,
) -> None:
    """What the sidecar would retrieve for QUERY (its own search code, on the live version)."""
    store = _open(collection, qdrant_path, qdrant_url, api_key_env)
    embedder = OnnxEmbedder(model_repository)
    try:
        if await store.live_version() is None:
            raise click.ClickException(f"{collection} has no live version: run `guardrail kb ingest` first")
        where = QdrantConfig(url=qdrant_url) if qdrant_url else QdrantConfig(path=qdrant_path or DEFAULT_PATH)
        retriever = KnowledgeStore(store.client, KnowledgeBaseConfig(qdrant=where, collection=collection, top_k=top_k))
        hits = await retriever.search((await embedder.embed([query]))[0], top_k)
    finally:
        await store.client.close()
    table = Table("score", "id", "text", title=f"top {top_k} for {query!r}")
    for hit in hits:
        table.add_row(f"{hit.similarity:.3f}", hit.id, hit.text)
    Console().print(table)


@kb.command("snapshot")
@_store_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="snapshot file (.jsonl.gz)")
@click.option("--version", default=None, help="version to save [default: the live one]")
@_command
async def snapshot(
    collection: str,
    qdrant_path: str | None,
    qdrant_url: str | None,
    api_key_env: str | None,
    out: Path,
    version: str | None,
) -> None:
    """Save one version (points, vectors, record) to a portable file."""
    store = _open(collection, qdrant_path, qdrant_url, api_key_env)
    try:
        record = await snapshots.create(store, out, version)
    finally:
        await store.client.close()
    console.print(f"saved version {record.version} ({record.chunks} chunks) to {out}")


@kb.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_store_options
@click.option("--no-switch", is_flag=True, help="load the version without making it live")
@_command
async def restore(
    file: Path,
    collection: str,
    qdrant_path: str | None,
    qdrant_url: str | None,
    api_key_env: str | None,
    no_switch: bool,
) -> None:
    """Load a snapshot FILE as a version and make it live."""
    store = _open(collection, qdrant_path, qdrant_url, api_key_env)
    try:
        record = await snapshots.restore(store, file, live=not no_switch)
    finally:
        await store.client.close()
    console.print(f"restored version {record.version} ({record.chunks} chunks){'' if no_switch else ', now live'}")


@kb.command("rollback")
@click.argument("version")
@_store_options
@_command
async def rollback(
    version: str, collection: str, qdrant_path: str | None, qdrant_url: str | None, api_key_env: str | None
) -> None:
    """Make an earlier, retained VERSION live again."""
    store = _open(collection, qdrant_path, qdrant_url, api_key_env)
    try:
        if version not in await store.versions() or await store.record(version) is None:
            raise click.ClickException(f"{collection} has no version {version}; see `guardrail kb stats`")
        await store.switch(version)
    finally:
        await store.client.close()
    console.print(f"{collection} → version {version}")
