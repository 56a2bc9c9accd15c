"""Which revisions serve, and with what weight: the config file reload, the Guardrail status watch and the canary
split.
"""
