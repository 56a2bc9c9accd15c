"""A scored request end to end: reading requests and answers per protocol, streaming, the verdict's answer and what
is reported.
"""
