"""Pure reconcile logic: observed facts, revision hashing, what to apply (diff) and the status to write."""
