-- Failed jobs an operator can act on: why each failed (its error type, e.g. ComfyExecutionFailed), the key that
-- asked for it (a retry acts with it: its webhook is signed by it, its tenant's share is used), and the link
-- between a failed job and the job that retried it.
alter table generation_jobs
    add column failure_reason text,
    add column key_id uuid references api_keys (id) on delete set null,
    add column retry_of uuid references generation_jobs (id) on delete set null,
    add column retried_as uuid references generation_jobs (id) on delete set null;
create index generation_jobs_failed_idx on generation_jobs (created_at desc, id desc) where status = 'failed';
