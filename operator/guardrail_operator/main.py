"""`guardrail-operator`: run the operator (settings from `GUARDRAIL_*` variables, see `settings`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

import kopf

from guardrail_operator.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="guardrail-operator", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"guardrail-operator: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # kopf logs every handler run at INFO: too much for hundreds of Guardrails
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    import guardrail_operator.controller.handlers  # noqa: F401 - importing registers the handlers with kopf

    # kopf names this process for its peering through POD_ID or, without it, getpass.getuser(), which raises
    # for a UID with no passwd entry (the image runs as 65532 and has none): give it our identity (POD_NAME).
    os.environ.setdefault("POD_ID", settings.identity)
    kopf.run(
        standalone=True,
        clusterwide=not settings.watch_namespaces,
        namespaces=list(settings.watch_namespaces),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
