-- Who made each endpoint revision, so the history answers "who changed it"
-- without a join to the audit log. Revisions from before this column say ''.
ALTER TABLE endpoint_history ADD COLUMN changed_by TEXT NOT NULL DEFAULT '';
