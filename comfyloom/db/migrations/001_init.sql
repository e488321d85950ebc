-- Characters, the images generated for them, and one row per generation job.
create table characters (
    id uuid primary key,
    user_id text not null,
    name text not null,
    description text not null,
    visual_features jsonb not null default '{}'::jsonb,
    avatar_url text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index characters_user_idx on characters (user_id, created_at desc);

create table generation_jobs (
    id uuid primary key,
    user_id text not null,
    kind text not null,
    character_id uuid references characters (id) on delete set null,
    workflow_id text not null unique,
    status text not null default 'queued'
        check (status in ('queued', 'running', 'ready', 'failed', 'cancelled')),
    request jsonb not null default '{}'::jsonb,
    result_url text,
    error text,
    warnings jsonb not null default '[]'::jsonb,
    created_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz not null default now()
);
create index generation_jobs_user_idx on generation_jobs (user_id, created_at desc);

create table character_images (
    id uuid primary key,
    character_id uuid not null references characters (id) on delete cascade,
    job_id uuid not null unique references generation_jobs (id) on delete cascade,
    kind text not null,
    object_key text not null,
    url text not null,
    width integer not null,
    height integer not null,
    size_bytes integer not null,
    positive_prompt text not null,
    negative_prompt text not null,
    seed bigint not null,
    template text not null,
    created_at timestamptz not null default now()
);
create index character_images_character_idx on character_images (character_id, created_at desc);
