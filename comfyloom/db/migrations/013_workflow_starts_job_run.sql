-- A note may start a run that is not a job's own (a cancelled job's webhook delivery): that run carries no job
-- search attributes, or the Web UI would list it as a job queued forever.
alter table workflow_starts add column job_run boolean not null default true;
