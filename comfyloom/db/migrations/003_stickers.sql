-- Issue 5: stickers, each with its messenger-ready 512x512 variant.
create table character_stickers (
    id uuid primary key,
    character_id uuid not null references characters (id) on delete cascade,
    job_id uuid not null unique references generation_jobs (id) on delete cascade,
    emotion text not null,
    url text not null,
    messenger_url text,
    created_at timestamptz not null default now()
);
create index character_stickers_character_idx on character_stickers (character_id, emotion, created_at desc);
