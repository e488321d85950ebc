-- Issue 5: a sticker set is a job whose children are sticker jobs, one per emotion and attempt.
alter table generation_jobs
    add column set_id uuid references generation_jobs (id) on delete cascade,
    add column emotion text;
create index generation_jobs_set_idx on generation_jobs (set_id, emotion, created_at desc);
