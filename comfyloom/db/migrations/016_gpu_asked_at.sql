-- When each job's render was first asked of the GPUs (its run's check before queueing): the order its GPU task
-- joined the queue, which a waiting job's estimate reads for the jobs of its own priority ahead of it.
alter table generation_jobs add column gpu_asked_at timestamptz;
