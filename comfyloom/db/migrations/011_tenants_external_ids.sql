-- Issue 17: an app backend acting for its users, and the app's own ids for characters and stories.
-- A service key belongs to a tenant (an app) instead of a user; it acts for the tenant's users, whose
-- user ids are `<tenant>.<app user id>` ('.' is in neither part, so no tenant reaches another's users and
-- no plain user id, which has no '.', is ever a tenant's).
alter table api_keys alter column user_id drop not null;
alter table api_keys add column tenant text;
alter table api_keys add constraint api_keys_owner check ((user_id is null) <> (tenant is null));

-- An app's users, recorded the first time a service key names them.
create table app_users (
    user_id text primary key,
    tenant text not null,
    external_id text not null,
    first_key_id uuid references api_keys (id) on delete set null,
    created_at timestamptz not null default now(),
    unique (tenant, external_id)
);

alter table characters add column external_id text;
create unique index characters_external_idx on characters (user_id, external_id) where external_id is not null;
alter table stories add column external_id text;
create unique index stories_external_idx on stories (user_id, external_id) where external_id is not null;
create index stories_user_page_idx on stories (user_id, created_at desc, id desc);
create index characters_user_page_idx on characters (user_id, created_at desc, id desc);
