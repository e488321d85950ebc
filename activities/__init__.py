"""Temporal activities, grouped by the worker that runs them.

CPU worker: `JobActivities`, `PromptActivities`, `ImageActivities`, `ModerationActivities`, `PublishActivities`,
`WebhookActivities`, `FleetActivities` (what GPU workers reported they can render), `StagingActivities` (the
upload URLs GPU workers stage renders through).
GPU worker: `ComfyActivities` (the only code that talks to ComfyUI).
Workflows call them through the stubs in `activities/steps.py`, never importing these modules.
"""
