"""`kubectl guardrail` (the `kubectl-guardrail` plugin): watch and steer canary rollouts of a Guardrail.

    kubectl guardrail rollout status NAME [--timeout 10m]   live; exit 0 when stable, 1 on rollback, 3 on timeout
    kubectl guardrail promote NAME [--full] | abort NAME | undo NAME | pause NAME | resume NAME
    kubectl guardrail history NAME

Each command is one patch of the Guardrail (see `rollout_view`), so it works the same through plain
`kubectl patch` or GitOps; `--dry-run` prints the patch and what the operator would do, and sends nothing.
"""

from __future__ import annotations

import functools
import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
import urllib3
from kubernetes import client as kclient
from kubernetes import config as kconfig

from guardrail_contract.durations import parse_duration
from guardrail_contract.names import GROUP, PLURAL, VERSION
from guardrail_operator.rollout.view import Obj, action_patch, history_rows, pause_patch, predict, view

EXIT_ROLLED_BACK = 1
EXIT_TIMEOUT = 3


@dataclass
class Target:
    """The user's cluster, context and namespace; the API client is made on first use."""

    kubeconfig: str | None
    context: str | None
    namespace: str | None
    _api: Any = None

    def api(self) -> Any:
        if self._api is None:
            try:
                api_client = kconfig.new_client_from_config(  # type: ignore[no-untyped-call]  # loader lacks annotations
                    config_file=self.kubeconfig, context=self.context
                )
            except (kconfig.ConfigException, OSError) as exc:
                raise click.ClickException(f"cannot load kubeconfig: {exc}") from exc
            self._api = kclient.CustomObjectsApi(api_client)
            if self.namespace is None:
                self.namespace = _context_namespace(self.kubeconfig, self.context)
        return self._api

    def get(self, name: str) -> Obj:
        api = self.api()
        return _call(name, self, lambda: api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name))

    def patch(self, name: str, body: Obj) -> Obj:
        api = self.api()
        return _call(
            name, self, lambda: api.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name, body)
        )


def _context_namespace(kubeconfig: str | None, context: str | None) -> str:
    try:
        contexts, current = kconfig.list_kube_config_contexts(  # type: ignore[no-untyped-call]  # no annotations
            config_file=kubeconfig
        )
    except (kconfig.ConfigException, OSError):
        return "default"
    chosen = next((c for c in contexts if c["name"] == context), current) if context else current
    return str((chosen or {}).get("context", {}).get("namespace") or "default")


def _call(name: str, target: Target, request: Any) -> Obj:
    """Run an API request; API errors become one line naming the Guardrail and the cause."""
    try:
        result: Obj = request()
    except kclient.ApiException as exc:
        if exc.status == 404:
            raise click.ClickException(f'guardrail "{name}" not found in namespace "{target.namespace}"') from exc
        raise click.ClickException(f'guardrail "{name}": {exc.status} {exc.reason}: {exc.body}') from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise click.ClickException(f"cannot reach the API server: {exc}") from exc
    return result


def _target_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--kubeconfig`, `--context` and `-n` accepted before or after the command, as kubectl users type them."""

    @click.option("--kubeconfig", help="Path of the kubeconfig file (default: $KUBECONFIG).")
    @click.option("--context", help="Kubeconfig context to use (default: the current one).")
    @click.option("-n", "--namespace", help="Namespace of the Guardrail (default: the context's).")
    @functools.wraps(command)
    def wrapper(*args: Any, kubeconfig: str | None, context: str | None, namespace: str | None, **kw: Any) -> Any:
        target = click.get_current_context().find_object(Target)
        if target is None:
            target = Target(None, None, None)
        target.kubeconfig = kubeconfig or target.kubeconfig
        target.context = context or target.context
        target.namespace = namespace or target.namespace
        return command(target, *args, **kw)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Path of the kubeconfig file (default: $KUBECONFIG).")
@click.option("--context", help="Kubeconfig context to use (default: the current one).")
@click.option("-n", "--namespace", help="Namespace of the Guardrail (default: the context's).")
@click.pass_context
def cli(ctx: click.Context, kubeconfig: str | None, context: str | None, namespace: str | None) -> None:
    """Watch and steer canary rollouts of Guardrails."""
    ctx.obj = Target(kubeconfig, context, namespace)


@cli.group()
def rollout() -> None:
    """Rollout status and history."""


@rollout.command("status")
@click.argument("name")
@click.option("--timeout", default="0s", help="Give up after this long, e.g. 10m (0s: wait forever).")
@click.option("--watch/--no-watch", "-w", default=True, help="Follow the rollout until it ends.")
@_target_options
def status_command(target: Target, name: str, timeout: str, watch: bool) -> None:
    """Follow a rollout like `kubectl rollout status`: exit 0 when stable, 1 when rolled back, 3 on timeout."""
    try:
        limit = parse_duration(timeout).total_seconds()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timeout") from exc
    deadline = time.monotonic() + limit if limit > 0 else None
    last = ""
    while True:
        current = view(target.get(name))
        if current.line != last:
            click.echo(current.line)
            last = current.line
        if current.done or not watch:
            sys.exit(EXIT_ROLLED_BACK if current.failed else 0)
        if deadline is not None and time.monotonic() >= deadline:
            click.echo(f"error: timed out waiting for the rollout of guardrail {name!r}", err=True)
            sys.exit(EXIT_TIMEOUT)
        time.sleep(0.5)


@rollout.command("history")
@click.argument("name")
@_target_options
def rollout_history(target: Target, name: str) -> None:
    """Revisions that were stable, oldest first; `*` marks the current one."""
    _print_history(target.get(name))


def _print_history(obj: Obj) -> None:
    rows = history_rows(obj)
    click.echo(f"{'REVISION':<12} {'STABLE SINCE':<22} {'HOW':<9} CURRENT")
    for revision, since, how, mark in rows:
        click.echo(f"{revision:<12} {since:<22} {how:<9} {mark}")


def _send(target: Target, name: str, action: str, body: Obj, dry_run: bool) -> None:
    if dry_run:
        try:
            what = predict(action, target.get(name))
        except click.ClickException as exc:
            what = f"(current state unknown: {exc.message})"
        click.echo(f"guardrail/{name} patch (dry run, not sent): {json.dumps(body, sort_keys=True)}")
        click.echo(f"would: {what}")
        return
    target.patch(name, body)
    click.echo(f"guardrail/{name} {action} requested")


def _request_id(action: str) -> str:
    return f"{action}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


_DRY_RUN = click.option("--dry-run", is_flag=True, help="Print the patch and what would happen; change nothing.")


@cli.command()
@click.argument("name")
@click.option("--full", is_flag=True, help="Promote the canary to stable at once, skipping the remaining steps.")
@_DRY_RUN
@_target_options
def promote(target: Target, name: str, full: bool, dry_run: bool) -> None:
    """Advance the canary one step now (or all the way with --full); retries a rolled-back revision."""
    action = "promote-full" if full else "promote"
    _send(target, name, action, action_patch(action, _request_id(action)), dry_run)


@cli.command()
@click.argument("name")
@_DRY_RUN
@_target_options
def abort(target: Target, name: str, dry_run: bool) -> None:
    """Roll the canary back to 0%; the stable revision keeps serving."""
    _send(target, name, "abort", action_patch("abort", _request_id("abort")), dry_run)


@cli.command()
@click.argument("name")
@_DRY_RUN
@_target_options
def undo(target: Target, name: str, dry_run: bool) -> None:
    """Go back to the previous stable revision (aborting a canary in progress)."""
    _send(target, name, "undo", action_patch("undo", _request_id("undo")), dry_run)


@cli.command()
@click.argument("name")
@_DRY_RUN
@_target_options
def pause(target: Target, name: str, dry_run: bool) -> None:
    """Hold the canary at its current weight (sets spec.rollout.paused)."""
    _send(target, name, "pause", pause_patch(True), dry_run)


@cli.command()
@click.argument("name")
@_DRY_RUN
@_target_options
def resume(target: Target, name: str, dry_run: bool) -> None:
    """Continue a paused canary."""
    _send(target, name, "resume", pause_patch(False), dry_run)


@cli.command()
@click.argument("name")
@_target_options
def history(target: Target, name: str) -> None:
    """Revisions that were stable, oldest first (same as `rollout history`)."""
    _print_history(target.get(name))


def main() -> None:
    cli()
