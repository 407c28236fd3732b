-- Least privilege (issue "Security and input hardening", point 1). The roles themselves are
-- cluster-wide and need a superuser to create: db/roles.ts (ensureRoles) makes them before the
-- migrations run, and the migrations run as sluice_owner from here on. This migration gives each
-- role what it may do in this database; everything not granted here is refused.
DO $check$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sluice_worker')
     OR NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sluice_transform') THEN
    RAISE EXCEPTION 'roles sluice_owner, sluice_worker and sluice_transform do not exist: start sluice once with a superuser DATABASE_URL (it creates them), then run the migrations as sluice_owner';
  END IF;
END
$check$;

-- Schema sluice: facts are INSERT-only for the worker; only pointers and progress may change.
GRANT USAGE ON SCHEMA sluice TO sluice_worker;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA sluice TO sluice_worker;
GRANT UPDATE ON sluice.watermarks, sluice.transform_live, sluice.model_aliases TO sluice_worker;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA sluice TO sluice_worker;
-- Tables of later migrations: INSERT-only for the worker unless that migration grants more.
ALTER DEFAULT PRIVILEGES IN SCHEMA sluice GRANT SELECT, INSERT ON TABLES TO sluice_worker;
ALTER DEFAULT PRIVILEGES IN SCHEMA sluice GRANT USAGE, SELECT ON SEQUENCES TO sluice_worker;

-- LOCK TABLE in SHARE or ROW EXCLUSIVE mode needs UPDATE, DELETE or TRUNCATE on PostgreSQL
-- before 16, which the worker must not have on the log: these functions take the two locks the
-- log's writers and readers use (the lock lasts until the caller's transaction ends).
CREATE FUNCTION sluice.lock_log_for_append() RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ BEGIN LOCK TABLE sluice.raw_events IN ROW EXCLUSIVE MODE; END $$;
CREATE FUNCTION sluice.lock_log_for_horizon() RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ BEGIN LOCK TABLE sluice.raw_events IN SHARE MODE; END $$;
REVOKE ALL ON FUNCTION sluice.lock_log_for_append(), sluice.lock_log_for_horizon() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sluice.lock_log_for_append(), sluice.lock_log_for_horizon() TO sluice_worker;

-- User SQL reads the log (not the quarantine, the registry or the run events).
GRANT USAGE ON SCHEMA sluice TO sluice_transform;
GRANT SELECT ON sluice.raw_events TO sluice_transform;

-- Derived and build tables: created and owned by the worker; user SQL reads them and fills them.
GRANT USAGE, CREATE ON SCHEMA sluice_derived, sluice_build TO sluice_worker;
GRANT USAGE ON SCHEMA sluice_derived, sluice_build TO sluice_transform;
ALTER DEFAULT PRIVILEGES FOR ROLE sluice_worker IN SCHEMA sluice_derived GRANT SELECT, INSERT ON TABLES TO sluice_transform;
ALTER DEFAULT PRIVILEGES FOR ROLE sluice_worker IN SCHEMA sluice_build GRANT SELECT, INSERT ON TABLES TO sluice_transform;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA sluice_derived, sluice_build TO sluice_transform;

-- Reference tables (lookups a transform joins against), put here by whoever administers the
-- database: readable by user SQL and the worker, written by neither.
CREATE SCHEMA IF NOT EXISTS sluice_reference;
GRANT USAGE ON SCHEMA sluice_reference TO sluice_worker, sluice_transform;
ALTER DEFAULT PRIVILEGES IN SCHEMA sluice_reference GRANT SELECT ON TABLES TO sluice_worker, sluice_transform;
