-- Issue 6: API keys. Only a hash of each key is kept; the key is shown once, when it is created.
create table api_keys (
    id uuid primary key,
    user_id text not null,
    name text not null default '',
    -- The key's first characters, to tell keys apart in listings without revealing them.
    prefix text not null,
    key_hash text not null unique,
    admin boolean not null default false,
    created_at timestamptz not null default now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);
create index api_keys_user_idx on api_keys (user_id);
