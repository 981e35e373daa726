-- A finished task its owner removed from a client's history (the virtual ComfyUI's
-- POST /history): kept for accounting and other views, left out of that history.
ALTER TABLE tasks ADD COLUMN archived_at BIGINT;
