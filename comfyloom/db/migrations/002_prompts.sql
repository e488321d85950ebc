-- Issue 4: Gemini answers cached by question, content refusals on record, full provenance per image.
create table prompt_translations (
    cache_key text primary key,
    task text not null,
    model text not null,
    result jsonb not null,
    hits integer not null default 0,
    created_at timestamptz not null default now(),
    last_used_at timestamptz not null default now()
);

create table content_refusals (
    id uuid primary key,
    user_id text not null,
    job_id uuid references generation_jobs (id) on delete set null,
    kind text not null,
    -- 'request': refused by the API before any job; 'prompt': by build_prompt, before any GPU work.
    stage text not null check (stage in ('request', 'prompt')),
    reason text not null,
    fields jsonb not null default '[]'::jsonb,
    matched jsonb not null default '[]'::jsonb,
    created_at timestamptz not null default now()
);
create index content_refusals_user_idx on content_refusals (user_id, created_at desc);

-- Everything needed to render an image again: with the seed, template and checkpoint, the same graph.
alter table character_images
    add column source_text text not null default '',
    add column tags jsonb not null default '{}'::jsonb,
    add column loras jsonb not null default '[]'::jsonb,
    add column template_sha256 text not null default '',
    add column checkpoint text not null default '',
    add column translator text;
