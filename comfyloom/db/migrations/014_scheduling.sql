-- A run's priority and fairness (comfyloom/scheduling.py): kept in the note that starts it, so a sweep starts it
-- with the same, and on the job, so a waiting job's place in the GPU queue can be estimated.
alter table workflow_starts add column scheduling jsonb;
alter table generation_jobs add column priority_key smallint;
-- How long each render took on the GPU, by kind and worker: the estimates' recent medians.
create table render_times (
    id bigserial primary key,
    kind text not null,
    worker text not null,
    seconds double precision not null,
    finished_at timestamptz not null default now()
);
create index render_times_kind_idx on render_times (kind, finished_at desc);
