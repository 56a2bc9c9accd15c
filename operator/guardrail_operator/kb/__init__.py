"""Knowledge-base ingestion, pure: when to run an ingestion Job (ingestion) and the Job itself (job)."""
