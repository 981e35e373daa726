-- The monitor overview counts the tasks completed in the last hour: one range of this index.
CREATE INDEX tasks_by_finish ON tasks (status, finished_at);
