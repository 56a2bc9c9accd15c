"""A labelled PII set the project generates (seeded), and the evaluation of the sidecar's built-in PII detector."""
