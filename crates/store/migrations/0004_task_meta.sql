-- What the submitting dialect wants to remember about a task (e.g. star-graph's prompt
-- and parameters), as JSON.
ALTER TABLE tasks ADD COLUMN meta TEXT;
