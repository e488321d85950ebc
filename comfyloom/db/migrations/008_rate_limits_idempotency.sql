-- Issue 6: per-user request counts per minute (shared by every API replica), and what makes a
-- repeated request return the job it already started.
create table rate_limit_windows (
    user_id text not null,
    window_start timestamptz not null,
    count integer not null default 0,
    primary key (user_id, window_start)
);

alter table generation_jobs
    add column idempotency_key text,
    add column request_hash text;
create unique index generation_jobs_idempotency_idx on generation_jobs (user_id, idempotency_key)
    where idempotency_key is not null;
create index generation_jobs_request_hash_idx on generation_jobs (user_id, request_hash, created_at desc)
    where request_hash is not null;
