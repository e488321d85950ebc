"""Temporal workflows; they run on the CPU worker's `imagegen-cpu` queue (`workflows.registry` lists them).

Empty on purpose: Temporal's sandbox imports this package again for every run of every workflow.
"""
