-- Issue 30: one stream per user or chat. Each job's events as the streams saw them (started, each stage, its end),
-- kept so that every API process serves the same ids and a client resuming with its last event id gets what came
-- after it. The stages live in Temporal (the progress query, the JobStatus search attribute), not here, so the
-- streams write these rows themselves (comfyloom/db/job_events.py): one writer a user at a time, so a user's ids
-- commit in order, and a row only above its job's last `rank`, so each event is written once, no stage goes back
-- and nothing follows the end. A job's events go with it.
create table job_events (
    id bigserial primary key,
    user_id text not null,
    job_id uuid not null references generation_jobs (id) on delete cascade,
    chat_id text,
    event text not null check (event in ('started', 'stage', 'ready', 'failed', 'cancelled')),
    stage text not null,
    rank integer not null,
    status jsonb not null,
    created_at timestamptz not null default clock_timestamp(),
    unique (job_id, rank)
);
create index job_events_user_idx on job_events (user_id, id);
create index job_events_chat_idx on job_events (user_id, chat_id, id) where chat_id is not null;

-- What a stream looks at on each look (every 0.25 s): its user's unfinished jobs, and those ended since its cursor.
create index generation_jobs_open_idx on generation_jobs (user_id, created_at) where status in ('queued', 'running');
create index generation_jobs_finished_idx on generation_jobs (user_id, finished_at) where finished_at is not null;
