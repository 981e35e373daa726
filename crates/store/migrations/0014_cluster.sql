-- Several gateways over one PostgreSQL database (on SQLite these stay empty: one process).

-- The gateways alive in the cluster: each writes `seen_at` every heartbeat.
CREATE TABLE gateways (
    id TEXT PRIMARY KEY,
    addr TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);

-- Which gateway drives each ComfyUI instance, until when, and what it last saw of it (the
-- other gateways show and place by this).
CREATE TABLE instance_leases (
    instance_id TEXT PRIMARY KEY,
    gateway_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    alive BIGINT NOT NULL DEFAULT 0,
    heartbeat_at BIGINT,
    queue_remaining BIGINT NOT NULL DEFAULT 0,
    active BIGINT NOT NULL DEFAULT 0,
    models TEXT
);

-- Cron fires already claimed: a scheduled workflow fires once per tick for the cluster.
CREATE TABLE schedule_fires (
    workflow_id TEXT NOT NULL,
    fire_at BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, fire_at)
);

-- Cluster messages too large for a NOTIFY payload: the notification carries the id.
CREATE TABLE cluster_messages (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Failed logins per key (a username from an address, or an address), in windows that start
-- at the first failure: kept in the database so the limit holds across gateways.
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY,
    count BIGINT NOT NULL,
    ends_at BIGINT NOT NULL
);
CREATE INDEX login_failures_by_end ON login_failures (ends_at);

-- The machine (a gateway's data directory, `<data_dir>/machine-id`) that runs each hypervisor
-- host's VMs; other gateways refuse requests for them, naming it. NULL: claimed by the next
-- gateway to start (hosts of databases from before several gateways).
ALTER TABLE compute_hosts ADD COLUMN machine TEXT;

-- Where each machine's gateway serves, for those refusals.
CREATE TABLE compute_machines (
    id TEXT PRIMARY KEY,
    addr TEXT NOT NULL,
    seen_at BIGINT NOT NULL
);
