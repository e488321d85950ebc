-- Issue 31: a stream learns that a job started or ended the moment it happens, not at its next look. Postgres
-- notifies the job's user on `comfyloom_job_status` (comfyloom/db/job_notices.py) when a job row is added or its
-- status changes; the notice is sent when the transaction commits, so the stream's look sees the row.
create or replace function comfyloom_job_status_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('comfyloom_job_status', new.user_id);
    return null;
end $$;

create trigger generation_jobs_added_notify after insert on generation_jobs
    for each row execute function comfyloom_job_status_notify();
create trigger generation_jobs_status_notify after update of status on generation_jobs
    for each row when (old.status is distinct from new.status) execute function comfyloom_job_status_notify();
