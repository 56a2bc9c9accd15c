"""Entry point of the `guardrail` command. Each subcommand group lives in its own module."""

from __future__ import annotations

import importlib

import click

# (module, attribute) of each subcommand; a module that is not there yet is simply not offered.
_COMMANDS = {
    "demo": ("guardrail_cli.demo", "demo"),
    "model": ("guardrail_cli.model", "model"),
    "eval": ("guardrail_cli.eval", "eval_command"),
    "kb": ("guardrail_cli.kb", "kb"),
    "triton": ("guardrail_cli.triton", "triton"),
}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Run, evaluate and operate LLM guardrails."""


for _name, (_module, _attr) in _COMMANDS.items():
    try:
        cli.add_command(getattr(importlib.import_module(_module), _attr), _name)
    except ModuleNotFoundError as exc:
        if exc.name != _module:
            raise


def main() -> None:
    cli()
