-- Issue 5: stories with their covers, and chat scenes. An image now belongs to a character, a story,
-- or (a scene of several characters) to neither, so the provenance table is just `images`.
create table stories (
    id uuid primary key,
    user_id text not null,
    title text not null,
    genre text,
    synopsis text,
    character_ids uuid[] not null default '{}',
    cover_url text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index stories_user_idx on stories (user_id, created_at desc);

alter table character_images rename to images;
alter index character_images_character_idx rename to images_character_idx;
alter table images
    alter column character_id drop not null,
    add column user_id text,
    add column story_id uuid references stories (id) on delete cascade;
update images set user_id = j.user_id from generation_jobs j where j.id = images.job_id;
alter table images alter column user_id set not null;
create index images_story_idx on images (story_id, created_at desc);

alter table generation_jobs add column story_id uuid references stories (id) on delete set null;

create table story_covers (
    id uuid primary key,
    story_id uuid not null references stories (id) on delete cascade,
    job_id uuid not null unique references generation_jobs (id) on delete cascade,
    url text not null,
    created_at timestamptz not null default now()
);
create index story_covers_story_idx on story_covers (story_id, created_at desc);

-- A scene drawn from a chat: the client's chat id (opaque to us) finds a conversation's scenes again.
create table chat_scenes (
    id uuid primary key,
    user_id text not null,
    job_id uuid not null unique references generation_jobs (id) on delete cascade,
    chat_id text,
    story_id uuid references stories (id) on delete set null,
    character_ids uuid[] not null default '{}',
    url text not null,
    width integer not null,
    height integer not null,
    created_at timestamptz not null default now()
);
create index chat_scenes_chat_idx on chat_scenes (user_id, chat_id, created_at desc);
