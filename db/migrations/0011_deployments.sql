-- Deployment and serving (issue "Deployment and serving"): named scoring endpoints and the shadow
-- periods of deployments. An endpoint serves one model name; which version answers is that model's
-- `champion` alias (sluice.model_aliases, every move appended to sluice.model_alias_events), and the
-- one before it is `previous`. A shadow session asks the scoring service to score every request of
-- the endpoint with a candidate beside the champion until it has scored max_requests requests or
-- ends_at has passed; the deploy workflow that opened it closes it (ended_at).

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
  started_at        timestamptz NOT NULL DEFAULT now(),
  -- set once, by the deploy workflow that opened the session
  ended_at          timestamptz
);
-- At most one open shadow session per endpoint.
CREATE UNIQUE INDEX shadow_sessions_open_idx ON sluice.shadow_sessions (endpoint) WHERE ended_at IS NULL;
-- A retried activity of the same run finds the session it opened.
CREATE UNIQUE INDEX shadow_sessions_run_idx ON sluice.shadow_sessions (workflow_id, run_id);
