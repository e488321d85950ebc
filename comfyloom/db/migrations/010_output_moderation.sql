-- Issue 16: what the output classifier made of each image, and refusals of what the GPU drew.
alter table images add column moderation jsonb;

alter table content_refusals drop constraint if exists content_refusals_stage_check;
alter table content_refusals add constraint content_refusals_stage_check
    check (stage in ('request', 'prompt', 'output'));
alter table content_refusals
    add column model text,
    add column score real;
-- A moderation step run again (its worker died after the insert) records its block once.
create unique index content_refusals_output_job_idx on content_refusals (job_id) where stage = 'output';
