-- Issue 14: what starts a job's workflow, written in the transaction that admits the job and deleted once
-- Temporal has the run. A crash in between leaves it here for a replayed request or the CPU worker's sweep.
create table workflow_starts (
    workflow_id text primary key,
    job_id uuid not null references generation_jobs (id) on delete cascade,
    workflow_type text not null,
    arg jsonb not null,
    summary text not null,
    user_id text not null,
    kind text not null,
    character_ids text[] not null default '{}',
    -- A set's retry starts a new run under the set's id; every other start is a workflow id's only run.
    new_run boolean not null default false,
    created_at timestamptz not null default now()
);
create index workflow_starts_created_idx on workflow_starts (created_at);
