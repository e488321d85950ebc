"""The cloud worker: every workflow, and the activities that need no GPU."""
