-- Each user's own text documents for the clients they use (the ComfyUI front end's
-- settings, saved workflows and styles), by relative path.
CREATE TABLE user_files (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    content TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, path)
);
