-- Compute (the OpenIDCS API): hypervisor hosts, their VMs, the audit log and task records of
-- long operations. Ids come from the application; flags are BIGINT 0/1; JSON is TEXT.
-- A VM's configuration (NICs, NAT rules, reverse proxies…) is one JSON document, as in
-- OpenIDCS's `vm_saving`; the columns beside it are what queries and unique rules need.

CREATE TABLE compute_hosts (
    name TEXT PRIMARY KEY,
    server_type TEXT NOT NULL,
    config TEXT NOT NULL,
    maintenance BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE compute_vms (
    host TEXT NOT NULL REFERENCES compute_hosts (name),
    vm_uuid TEXT NOT NULL,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    agent_secret_hash TEXT NOT NULL,
    last_report TEXT,
    reported_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (host, vm_uuid)
);
CREATE UNIQUE INDEX compute_vms_name ON compute_vms (host, name);
CREATE UNIQUE INDEX compute_vms_agent ON compute_vms (agent_secret_hash);

-- Append-only: who did what to which resource, and whether it worked.
CREATE TABLE compute_audit (
    id TEXT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    actor_id BIGINT,
    action TEXT NOT NULL,
    host TEXT,
    vm_uuid TEXT,
    success BIGINT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX compute_audit_by_time ON compute_audit (at_ms);
CREATE INDEX compute_audit_by_target ON compute_audit (host, vm_uuid);

-- Long operations (create, start, shutdown, reboot, delete, scan, loader).
CREATE TABLE compute_tasks (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    host TEXT,
    vm_uuid TEXT,
    actor TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX compute_tasks_by_time ON compute_tasks (started_at);
CREATE INDEX compute_tasks_by_target ON compute_tasks (host, vm_uuid);
