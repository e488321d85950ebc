-- Issue 6: credits. A balance per user that never goes below zero, a hold per job keyed by its
-- workflow id (set aside at admission, charged with the image, released on failure or cancellation),
-- and an append-only ledger of every movement.
create table credit_accounts (
    user_id text primary key,
    balance bigint not null default 0 check (balance >= 0),
    updated_at timestamptz not null default now()
);

create table credit_holds (
    workflow_id text primary key,
    job_id uuid not null references generation_jobs (id) on delete cascade,
    user_id text not null,
    amount bigint not null check (amount >= 0),
    status text not null default 'held' check (status in ('held', 'charged', 'released')),
    created_at timestamptz not null default now(),
    settled_at timestamptz
);
create index credit_holds_user_idx on credit_holds (user_id, status);

create table credit_ledger (
    id bigserial primary key,
    user_id text not null,
    -- Positive: a grant or a released hold; negative: a hold (or an operator's deduction).
    amount bigint not null,
    balance_after bigint not null,
    entry text not null check (entry in ('grant', 'hold', 'release')),
    workflow_id text,
    note text not null default '',
    created_at timestamptz not null default now()
);
create index credit_ledger_user_idx on credit_ledger (user_id, id desc);
