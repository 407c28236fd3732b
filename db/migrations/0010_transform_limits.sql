-- Limits of each transform version's SQL (statement and lock timeouts, idle time in a transaction,
-- work memory), applied with SET LOCAL around every statement of user SQL. Empty: the defaults.
ALTER TABLE sluice.transforms ADD COLUMN limits jsonb NOT NULL DEFAULT '{}'::jsonb;
