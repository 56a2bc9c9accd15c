"""The controller glue: kopf handlers, start-up wiring, leader election, metrics, and the reconcile loop around the
clients.
"""
