-- Task lists answer in time independent of how many tasks are stored.
--
-- Each user's tasks are numbered 1, 2, 3… in the order they were stored (tasks are never
-- deleted), so a page of a user's list is a range of those numbers, and the count of a
-- user's tasks is kept beside them: neither a deep page nor the total reads other rows.
CREATE TABLE task_counts (
    user_id BIGINT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO task_counts (user_id, n) SELECT user_id, COUNT(*) FROM tasks GROUP BY user_id;

ALTER TABLE tasks ADD COLUMN user_ordinal BIGINT NOT NULL DEFAULT 0;
UPDATE tasks SET user_ordinal = numbered.n
FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY seq, id) AS n FROM tasks) AS numbered
WHERE numbered.id = tasks.id;
CREATE UNIQUE INDEX tasks_by_user_ordinal ON tasks (user_id, user_ordinal);

-- Everyone's tasks are paged in `seq` order too (the (user_id, created_at) index served
-- nothing); a user's tasks in some states, newest first, are one range of this index.
CREATE INDEX tasks_by_seq ON tasks (seq);
DROP INDEX tasks_by_user;
CREATE INDEX tasks_by_user_status ON tasks (user_id, status, seq);
