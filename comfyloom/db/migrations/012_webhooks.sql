-- Issue 17: webhooks. A key signs its deliveries with its own secret (kept: it is needed to sign) and may
-- name a default URL; each attempt to deliver is on record.
alter table api_keys add column webhook_url text, add column webhook_secret text;

create table webhook_deliveries (
    id bigint generated always as identity primary key,
    job_id uuid not null,
    -- The Standard Webhooks `webhook-id`: the same on every attempt at one event.
    event_id text not null,
    url text not null,
    attempt integer not null,
    status_code integer,
    error text,
    duration_ms integer not null,
    created_at timestamptz not null default now()
);
create index webhook_deliveries_job_idx on webhook_deliveries (job_id, created_at);
