"""Knowledge-base ingestion for guardrails: read, chunk, embed, check for poisoning, version and serve.

Pipeline: `readers` (files → documents) → `chunking` (sentence-aware chunks) → `embedding` (the project's
embedding model, embedded or on a v2 server) → `poisoning` (quarantine instruction-like, contradicting and
outlying chunks) → `ingest` (a content-addressed version `name-<hash>` in Qdrant, alias `name` switched to it).
"""
