-- Files (uploads and generation outputs), fleet instance flags, and the durable task queue.
-- Flags are BIGINT 0/1: the sqlx Any driver cannot decode SQLite booleans.

CREATE TABLE files (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    width BIGINT,
    height BIGINT,
    task_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX files_by_user ON files (user_id, created_at);
CREATE INDEX files_by_task ON files (task_id);

CREATE TABLE instance_flags (
    instance_id TEXT PRIMARY KEY,
    enabled BIGINT NOT NULL
);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    priority BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    graph TEXT NOT NULL,
    params TEXT NOT NULL,
    inputs TEXT NOT NULL,
    models TEXT NOT NULL,
    total_steps BIGINT NOT NULL,
    instance_id TEXT,
    prompt_id TEXT,
    attempts BIGINT NOT NULL,
    progress BIGINT NOT NULL,
    error TEXT,
    error_code TEXT,
    result TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX tasks_by_status ON tasks (status, priority, seq);
CREATE INDEX tasks_by_user ON tasks (user_id, created_at);
CREATE INDEX tasks_by_instance ON tasks (instance_id, status);
