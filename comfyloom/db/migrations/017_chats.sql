-- Issue 30: a chat's scenes. Each job names the client's chat it was drawn for (its stream finds it by that), and
-- whether it was drawn on its own (an automatic scene, counted against the user's daily cap of those). A chat's
-- row keeps what its automatic scenes are judged against: its last scene (when, and what it showed: the tags of
-- an automatic one, the words of one asked for), the latest message when its last automatic scene was drawn,
-- and a judgement under way (another request of the chat waits for none, it is answered "not drawn").
alter table generation_jobs
    add column chat_id text,
    add column auto_scene boolean not null default false;
update generation_jobs set chat_id = request ->> 'chatId' where kind = 'scene' and request ? 'chatId';
create index generation_jobs_chat_idx on generation_jobs (user_id, chat_id, created_at desc) where chat_id is not null;
create index generation_jobs_auto_scene_idx on generation_jobs (user_id, created_at) where auto_scene;

create table chats (
    user_id text not null,
    chat_id text not null,
    last_scene_at timestamptz,
    last_scene text,
    last_auto_at timestamptz,
    last_auto_message_id text,
    judging_until timestamptz,
    primary key (user_id, chat_id)
);
