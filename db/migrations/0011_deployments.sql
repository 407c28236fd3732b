-- Deployment and serving (issue "Deployment and serving"): named scoring endpoints and the shadow
-- periods of deployments. An endpoint serves one model name; which version answers is that model's
-- `champion` alias (sluice.model_aliases, every move appended to sluice.model_alias_events), and the
-- one before it is `previous`. A shadow session asks the scoring service to score every request of
-- the endpoint with a candidate beside the champion until it has scored max_requests requests or
-- ends_at has passed, or until the deploy workflow that opened it appends its end. All three
-- tables are facts: append-only, like the log.

CREATE TABLE sluice.endpoints (
  endpoint    text        PRIMARY KEY CHECK (endpoint ~ '^[a-z][a-z0-9_-]{0,62}$'),
  model_name  text        NOT NULL UNIQUE,
  -- the contract of the rows the endpoint accepts: the candidate's inputs must match it
  input_schema jsonb      NOT NULL,
  created_by  text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sluice.shadow_sessions (
  id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  endpoint          text        NOT NULL REFERENCES sluice.endpoints (endpoint),
  candidate_version integer     NOT NULL,
  champion_version  integer,
  max_requests      integer     NOT NULL CHECK (max_requests > 0),
  ends_at           timestamptz NOT NULL,
  workflow_id       text        NOT NULL,
  run_id            text        NOT NULL,
  started_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shadow_sessions_endpoint_idx ON sluice.shadow_sessions (endpoint, id);
-- A retried activity of the same run finds the session it opened.
CREATE UNIQUE INDEX shadow_sessions_run_idx ON sluice.shadow_sessions (workflow_id, run_id);

-- The end of a shadow session, written once by the deploy workflow (completed, or cancelled when the
-- deployment is rejected, rolled back or fails). A session with no end row and a future ends_at is open.
CREATE TABLE sluice.shadow_session_ends (
  session_id bigint      PRIMARY KEY REFERENCES sluice.shadow_sessions (id),
  outcome    text        NOT NULL CHECK (outcome IN ('completed', 'cancelled')),
  ended_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER endpoints_append_only BEFORE UPDATE OR DELETE ON sluice.endpoints
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER endpoints_no_truncate BEFORE TRUNCATE ON sluice.endpoints
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER shadow_sessions_append_only BEFORE UPDATE OR DELETE ON sluice.shadow_sessions
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER shadow_sessions_no_truncate BEFORE TRUNCATE ON sluice.shadow_sessions
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER shadow_session_ends_append_only BEFORE UPDATE OR DELETE ON sluice.shadow_session_ends
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER shadow_session_ends_no_truncate BEFORE TRUNCATE ON sluice.shadow_session_ends
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
