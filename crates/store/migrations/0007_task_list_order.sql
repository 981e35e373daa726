-- Task lists page through one user's tasks in `seq` order: without an index in that order,
-- every page sorted all of the user's rows (100,000 tasks: seconds per page).
CREATE INDEX tasks_by_user_seq ON tasks (user_id, seq);
