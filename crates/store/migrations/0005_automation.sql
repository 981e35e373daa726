-- Workflow automation (the vFlow API): folders, workflows with their tags, executions and
-- their logs. Ids come from the application; flags are BIGINT 0/1; JSON is TEXT.
-- Names are unique per (user, parent folder): the expression indexes make a NULL parent
-- (the root) collide too, which a plain UNIQUE would not.

CREATE TABLE automation_folders (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    parent_id TEXT,
    position BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX automation_folders_name ON automation_folders (user_id, COALESCE(parent_id, ''), name);
CREATE INDEX automation_folders_by_parent ON automation_folders (parent_id);

CREATE TABLE automation_workflows (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    folder_id TEXT,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    is_enabled BIGINT NOT NULL,
    is_favorite BIGINT NOT NULL,
    position BIGINT NOT NULL,
    version BIGINT NOT NULL,
    steps TEXT NOT NULL,
    trigger_config TEXT NOT NULL,
    trigger_type TEXT,
    max_execution_time BIGINT NOT NULL,
    metadata TEXT NOT NULL,
    webhook_secret_hash TEXT,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX automation_workflows_name ON automation_workflows (user_id, COALESCE(folder_id, ''), name);
CREATE UNIQUE INDEX automation_workflows_webhook ON automation_workflows (webhook_secret_hash);
CREATE INDEX automation_workflows_by_folder ON automation_workflows (folder_id);
CREATE INDEX automation_workflows_by_trigger ON automation_workflows (trigger_type, is_enabled);

-- Tags in their own rows so that "any of these tags" is one portable query.
CREATE TABLE automation_workflow_tags (
    workflow_id TEXT NOT NULL REFERENCES automation_workflows (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, tag)
);
CREATE INDEX automation_workflow_tags_by_tag ON automation_workflow_tags (tag);

-- Executions outlive their workflow (history); they carry the workflow's name.
CREATE TABLE automation_executions (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    workflow_id TEXT NOT NULL,
    workflow_name TEXT NOT NULL,
    status TEXT NOT NULL,
    triggered_by TEXT NOT NULL,
    current_step_index BIGINT NOT NULL,
    total_steps BIGINT NOT NULL,
    current_step TEXT,
    outputs TEXT NOT NULL,
    variables TEXT NOT NULL,
    error TEXT,
    started_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX automation_executions_by_user ON automation_executions (user_id, started_at);
CREATE INDEX automation_executions_by_workflow ON automation_executions (workflow_id, started_at);
CREATE INDEX automation_executions_by_status ON automation_executions (status);

CREATE TABLE automation_execution_logs (
    execution_id TEXT NOT NULL REFERENCES automation_executions (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    logged_at BIGINT NOT NULL,
    level TEXT NOT NULL,
    step_index BIGINT,
    module_id TEXT,
    message TEXT NOT NULL,
    details TEXT,
    PRIMARY KEY (execution_id, seq)
);
