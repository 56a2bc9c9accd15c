"""The LLM APIs the sidecar speaks besides chat completions: how each one's requests, answers, streams and
refusals look (`dispatch` picks the API of a request path)."""
