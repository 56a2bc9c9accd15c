"""kubectl guardrail: the kubectl plugin that watches and steers a Guardrail's canary rollout."""
