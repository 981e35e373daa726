-- Credits: balances (available and frozen), the fund record of every movement, and the
-- charge of each task so that it is settled exactly once.

CREATE TABLE balances (
    user_id BIGINT PRIMARY KEY,
    available BIGINT NOT NULL,
    frozen BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE fund_records (
    id BIGINT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    balance BIGINT NOT NULL,
    reason TEXT NOT NULL,
    task_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX fund_records_by_user ON fund_records (user_id, created_at);

CREATE TABLE task_charges (
    task_id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    settled_at BIGINT
);
CREATE INDEX task_charges_by_state ON task_charges (state);
