"""The canary rollout: the state machine (machine, canary, actions), the children it keeps in service, canary
analysis and the views kubectl shows. Pure.
"""
