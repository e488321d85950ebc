"""Temporal activities, grouped by the worker that runs them.

CPU worker: `JobActivities`, `PromptActivities`, `ImageActivities`, `PublishActivities`.
GPU worker: `ComfyActivities` (the only code that talks to ComfyUI).
"""
