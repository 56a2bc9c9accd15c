"""The eval-gate Job's entry point: run `guardrail eval ... --json` and reduce its ranking to the gate's figures.

    python -m guardrail_cli.eval_gate --result-file /dev/termination-log \
        --compose stable=/eval/stable --compose candidate=/eval/candidate --workdir /tmp/eval-gate -- \
        guardrail eval SET --compare stable=sidecar:/tmp/eval-gate/stable.yaml \
                           --compare candidate=sidecar:/tmp/eval-gate/candidate.yaml --json

`--compose NAME=DIR` writes WORKDIR/NAME.yaml: DIR/sidecar.yaml (proxy and local settings) routing only to the
revision in DIR/revision.yaml (a canary's sidecar.yaml routes to stable and canary both).

The result (a few hundred bytes, well under the 4 KiB a termination message holds) is
`{"candidateAUROC", "stableAUROC", "leadProbability", "falseBlockRate", "pairs"}`: `leadProbability` is the
paired-bootstrap probability that the candidate's AUROC beats stable's (`P(leader better)` of `guardrail eval`
turned around when stable leads; ties count half) and `falseBlockRate` the share of supported claims the
candidate blocks at its own threshold. The operator judges them against `spec.rollout.evalGate`.
A failed eval exits non-zero with the reason in the result file (`{"error": ...}`), so the Job fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

STABLE, CANDIDATE = "stable", "candidate"
MAX_ERROR = 1000


class GateError(Exception):
    """`guardrail eval`'s output cannot be turned into gate figures."""


def _row(ranking: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    row = next((r for r in ranking if r.get("name") == name), None)
    if row is None:
        raise GateError(f"the eval ranking has no configuration named {name!r}")
    return row


def summarise(report: Mapping[str, Any]) -> dict[str, Any]:
    """The gate figures from `guardrail eval --json` output comparing `stable` and `candidate`."""
    ranking = report.get("ranking")
    if not isinstance(ranking, list):
        raise GateError("the eval output has no ranking")
    stable, candidate = _row(ranking, STABLE), _row(ranking, CANDIDATE)
    leader = ranking[0].get("name")
    if leader == CANDIDATE:  # stable's row says how often the candidate beat it
        lead = float(stable["leader_wins_share"])
    elif leader == STABLE:
        lead = 1.0 - float(candidate["leader_wins_share"])
    else:  # a third configuration (the length baseline) leads both: compare their shares of losses to it
        lead = 0.5 + (float(stable["leader_wins_share"]) - float(candidate["leader_wins_share"])) / 2
    recall = candidate.get("recall")
    false_block = candidate.get("false_block", None if recall is None else 1.0 - float(recall))
    if false_block is None:
        raise GateError("the candidate's row has neither false_block nor recall")
    return {
        "candidateAUROC": round(float(candidate["auroc"]), 6),
        "stableAUROC": round(float(stable["auroc"]), 6),
        "leadProbability": round(lead, 6),
        "falseBlockRate": round(float(false_block), 6),
        "pairs": int(report.get("n", 0)),
    }


def compose(directory: Path) -> dict[str, Any]:
    """DIR/sidecar.yaml routing only to the revision of DIR/revision.yaml."""
    config = yaml.safe_load((directory / "sidecar.yaml").read_text())
    revision = yaml.safe_load((directory / "revision.yaml").read_text())
    if not isinstance(config, dict) or not isinstance(revision, dict):
        raise GateError(f"{directory}: sidecar.yaml and revision.yaml must be YAML mappings")
    routing = {k: v for k, v in (config.get("routing") or {}).items() if k in ("requestIdHeader", "stickyHeader")}
    return {**config, "routing": {**routing, "stable": revision}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m guardrail_cli.eval_gate", description=__doc__.split("\n")[0])
    parser.add_argument("--result-file", type=Path, required=True, help="where the JSON result goes")
    parser.add_argument("--compose", action="append", default=[], metavar="NAME=DIR", help="write WORKDIR/NAME.yaml")
    parser.add_argument("--workdir", type=Path, default=Path("."), help="where --compose writes")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- guardrail eval ... --json")
    args = parser.parse_args(argv)
    command = [c for c in args.command if c != "--"] if args.command[:1] == ["--"] else list(args.command)
    if not command:
        parser.error("give the guardrail eval command after --")
    try:
        for item in args.compose:
            name, _, directory = item.partition("=")
            if not name or not directory:
                raise GateError(f"--compose {item!r}: write NAME=DIR")
            args.workdir.mkdir(parents=True, exist_ok=True)
            (args.workdir / f"{name}.yaml").write_text(yaml.safe_dump(compose(Path(directory))))
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise GateError(f"{' '.join(command[:2])} exited {done.returncode}: {done.stderr.strip()[-MAX_ERROR:]}")
        try:
            report = json.loads(done.stdout)
        except ValueError as exc:
            raise GateError(f"the eval output is not JSON: {exc}") from exc
        result = summarise(report)
    except (GateError, KeyError, TypeError, ValueError, OSError, yaml.YAMLError) as exc:
        args.result_file.write_text(json.dumps({"error": str(exc)[:MAX_ERROR]}))
        print(f"eval gate: {exc}", file=sys.stderr)
        return 1
    args.result_file.write_text(json.dumps(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
