"""The demo's two traffic phases: one request of each scenario, and traffic during a rollout.

Both only read what the product reports (answers, the Guardrail's status and Events) and judge it with the
pure `checks` and `canary` modules.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from guardrail_demo import checks, manifests
from guardrail_demo.canary import Result, RolloutWatch
from guardrail_demo.kube import Kube
from guardrail_demo.report import Report
from guardrail_demo.scenarios import SCENARIOS
from guardrail_demo.supervisor import Supervisor
from guardrail_demo.traffic import Outcome, TrafficLoop, send
from guardrail_demo.view import LiveView, status_table
from guardrail_devcluster.cluster import REPO_ROOT

ROLLOUT_TIMEOUT = 150.0


@dataclass(frozen=True)
class Target:
    """The demo's Guardrail and where its traffic goes."""

    kube: Kube
    namespace: str
    name: str
    sidecar_url: str
    prometheus_url: str
    inference: str = ""  # what serves the models, shown in the live view

    def apply(self, report: Report, path: Path) -> str:
        """`kubectl apply` of an example placed in the demo's namespace; the revision it makes."""
        manifest = manifests.localized(manifests.load(path), self.namespace, self.prometheus_url)
        report.note(f"$ kubectl apply -f {path.relative_to(REPO_ROOT)}")
        report.note(self.kube.apply(manifest))
        return manifests.revision(manifest)


def requests(report: Report, target: Target, revision: str, injection_model: bool, strict: bool) -> int:
    """One request per scenario, printed and judged; the number of answers the models misjudged."""
    outcomes: list[Outcome] = []
    with httpx.Client(timeout=60) as client, LiveView(report.console, inference=target.inference) as view:
        for scenario in SCENARIOS:
            outcome = send(client, target.sidecar_url, scenario)
            outcomes.append(outcome)
            view.add(outcome)
        view.set_status(target.kube.guardrail(target.namespace, target.name))
    problems = [p for o in outcomes for p in checks.product_problems(o, revision)]
    for problem in problems:
        report.fail(problem)
    if not problems:
        report.ok(f"every answer was judged by revision {revision}; blocked ones never reached the client")
    for r in checks.score_ranges(outcomes):
        report.note(f"{r.kind:<12} answers scored {r.low:.3f} to {r.high:.3f} ({r.count})")
    misses = [m for o in outcomes for m in checks.model_misses(o, injection_model)]
    if (apart := checks.separation_miss(outcomes)) is not None:
        misses.append(apart)
    if not misses:
        report.ok(
            "the models let every grounded answer through, scored it above every hallucination, "
            "marked every hallucination and blocked every injection"
        )
    elif strict:
        for miss in misses:
            report.fail(miss)
    else:
        report.warn(
            f"the models in models/repository fell short {len(misses)} time(s) on {len(outcomes)} answers "
            "(their quality, not the product's plumbing; --strict makes this fail):"
        )
        for miss in misses:
            report.note(f"  {miss}")
    return len(misses)


def rollout(report: Report, target: Target, sup: Supervisor, path: Path, expect: Result, require: bool) -> Result:
    """Apply a changed spec with traffic flowing and follow the operator's rollout to its end."""
    kube = target.kube
    stable = ((kube.guardrail(target.namespace, target.name) or {}).get("status") or {}).get("stableRevision", "")
    revision = target.apply(report, path)
    report.note(f"new revision {revision} (stable {stable}); sending traffic while the operator rolls it out")
    watch = RolloutWatch(revision, str(stable))
    view = LiveView(report.console, title=f"rollout of {revision}", inference=target.inference)
    view.echo_outcomes = False
    traffic = TrafficLoop(target.sidecar_url, SCENARIOS, view.add, workers=3, pause=0.02)
    deadline = time.monotonic() + ROLLOUT_TIMEOUT
    seen: set[str] = set()
    with view:
        traffic.start()
        try:
            while watch.result == "waiting" and time.monotonic() < deadline:
                sup.check()
                _poll(target, watch, seen, view)
                time.sleep(0.5)
            _poll(target, watch, seen, view)  # the Event of the last transition
        finally:
            traffic.stop()
    report.console.print(status_table(kube.guardrail(target.namespace, target.name)))
    served = view.per_revision()
    report.note("answers per revision during the rollout: " + ", ".join(f"{rev} {n}" for rev, n in served.items()))
    if watch.weights and not served.get(revision):
        report.fail(f"the sidecar never scored a request with canary {revision}: is it following the status?")
    result = watch.result
    if result == "no-canary-support":
        message = (
            f"CANARY SUPPORT NOT ACTIVE: the operator promoted {revision} directly (no status.canary appeared); "
            "the rollout state machine is not wired into its reconcile loop"
        )
        (report.fail if require else report.warn)(message)
    elif result == expect:
        reason = f": {watch.message}" if watch.message else ""
        report.ok(f"canary {revision} went {watch.steps_shown()} and was {result.replace('-', ' ')}{reason}")
    else:
        report.fail(
            f"canary {revision}: {result} after {watch.steps_shown()} within {ROLLOUT_TIMEOUT:.0f}s, "
            f"expected {expect}. {watch.message}".rstrip()
        )
    return result


def _poll(target: Target, watch: RolloutWatch, seen: set[str], view: LiveView) -> None:
    """Fold the Guardrail's status and its new Events into `watch`, printing what changed."""
    guardrail = target.kube.guardrail(target.namespace, target.name)
    view.set_status(guardrail)
    lines = watch.see((guardrail or {}).get("status") or {})
    uid = str(((guardrail or {}).get("metadata") or {}).get("uid", ""))
    for event_uid, reason, message in target.kube.events(target.namespace, target.name, uid) if uid else []:
        if event_uid not in seen:
            seen.add(event_uid)
            lines += watch.see_event(reason, message)
    for line in lines:
        view.say(f"    {time.strftime('%H:%M:%S')} {line}", style="bold")
