/**
 * Least privilege in PostgreSQL: the three roles sluice connects as, and the one step that needs a
 * superuser (creating them).
 *
 * - `sluice_owner`: owns schema sluice and runs the migrations (DDL). Nothing else connects as it.
 * - `sluice_worker`: what workers, the HTTP services and the CLI connect as. It may INSERT into
 *   the log, the quarantine and the run events but never UPDATE, DELETE or TRUNCATE them, owns no
 *   table of schema sluice (so it cannot disable their triggers), and is no superuser and no
 *   member of pg_read_server_files, pg_write_server_files or pg_execute_server_program. It creates
 *   and owns the derived tables (sluice_derived, sluice_build), which are rebuildable by design.
 * - `sluice_transform` (no login): what user SQL runs as, through `SET LOCAL ROLE` inside the
 *   transaction that runs it (transform chunks, custom_sql expectations). It may SELECT the log,
 *   the derived tables and the reference tables (schema sluice_reference) and INSERT into derived
 *   and build tables: the only INSERT it ever runs is the one sluice wraps around its SELECT.
 *
 * Passwords are generated once and kept in a file (mode 0600) beside the data they protect.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client, type ClientBase } from 'pg';
import { redactUrl } from '../config';

export const DB_ROLES = { owner: 'sluice_owner', worker: 'sluice_worker', transform: 'sluice_transform' } as const;

export interface RolePasswords {
  owner: string;
  worker: string;
}

export interface RoleUrls {
  /** Migrations only. */
  ownerUrl: string;
  /** Everything else. */
  workerUrl: string;
}

const PASSWORD = /^[0-9a-f]{32,128}$/;

/** The role passwords kept in `file`, created (random, mode 0600) when the file does not exist. */
export function loadRolePasswords(file: string): RolePasswords {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<RolePasswords>;
    if (
      typeof parsed.owner === 'string' &&
      PASSWORD.test(parsed.owner) &&
      typeof parsed.worker === 'string' &&
      PASSWORD.test(parsed.worker)
    ) {
      return { owner: parsed.owner, worker: parsed.worker };
    }
    throw new Error(`${file} does not hold the owner and worker passwords of sluice's PostgreSQL roles (delete it to have new ones made)`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const created = { owner: randomBytes(24).toString('hex'), worker: randomBytes(24).toString('hex') };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  try {
    fs.writeFileSync(file, `${JSON.stringify(created)}\n`, { mode: 0o600, flag: 'wx' });
    return created;
  } catch (err) {
    // another process made it first: use theirs
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadRolePasswords(file);
    throw err;
  }
}

/** `url` with another user and password. */
export function urlForRole(url: string, role: string, password: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = password;
  return u.toString();
}

/** Whether the user of `client`'s session may create roles (a superuser, or CREATEROLE). */
export async function canCreateRoles(client: ClientBase): Promise<boolean> {
  const r = await client.query<{ ok: boolean }>('SELECT rolsuper OR rolcreaterole AS ok FROM pg_roles WHERE rolname = current_user');
  return r.rows[0]?.ok === true;
}

/** Serialises role changes across every database of the server (advisory locks are per database: take it in the admin URL's). */
const ROLES_LOCK_KEY = 0x51_1ce_0002;

/**
 * Role statements, each idempotent. Passwords arrive through a transaction-local setting (bound
 * as a parameter), so they never appear in SQL text or the server log's statements.
 */
const CREATE_ROLES = `DO $roles$
DECLARE
  attrs constant text := 'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sluice_owner') THEN
    EXECUTE 'CREATE ROLE sluice_owner LOGIN ' || attrs;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sluice_worker') THEN
    EXECUTE 'CREATE ROLE sluice_worker LOGIN ' || attrs;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sluice_transform') THEN
    EXECUTE 'CREATE ROLE sluice_transform NOLOGIN ' || attrs;
  END IF;
  EXECUTE format('ALTER ROLE sluice_owner PASSWORD %L', current_setting('sluice.owner_password'));
  EXECUTE format('ALTER ROLE sluice_worker PASSWORD %L', current_setting('sluice.worker_password'));
  -- the worker switches to the transform role around user SQL; the owner sets the worker's default
  -- privileges (ALTER DEFAULT PRIVILEGES FOR ROLE sluice_worker needs membership)
  GRANT sluice_transform TO sluice_worker;
  GRANT sluice_worker TO sluice_owner;
END
$roles$`;

/**
 * Per database, as its owner or a superuser: who may connect and create schemas, and (for a
 * database whose schemas were made before the roles existed) the owners of what is already there.
 */
const DATABASE_GRANTS = `DO $grants$
DECLARE
  obj record;
BEGIN
  EXECUTE format('GRANT CONNECT, CREATE, TEMPORARY ON DATABASE %I TO sluice_owner', current_database());
  EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO sluice_worker', current_database());
  FOR obj IN SELECT nspname FROM pg_namespace WHERE nspname = 'sluice' AND nspowner <> 'sluice_owner'::regrole LOOP
    EXECUTE format('ALTER SCHEMA %I OWNER TO sluice_owner', obj.nspname);
  END LOOP;
  FOR obj IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'sluice' AND c.relkind IN ('r', 'v', 'p') AND c.relowner <> 'sluice_owner'::regrole LOOP
    EXECUTE format('ALTER TABLE sluice.%I OWNER TO sluice_owner', obj.relname);
  END LOOP;
  FOR obj IN SELECT p.oid::regprocedure AS fn FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'sluice' AND p.proowner <> 'sluice_owner'::regrole LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO sluice_owner', obj.fn);
  END LOOP;
  FOR obj IN SELECT nspname FROM pg_namespace WHERE nspname IN ('sluice_derived', 'sluice_build', 'sluice_reference')
             AND nspowner <> 'sluice_owner'::regrole LOOP
    EXECUTE format('ALTER SCHEMA %I OWNER TO sluice_owner', obj.nspname);
  END LOOP;
  FOR obj IN SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname IN ('sluice_derived', 'sluice_build') AND c.relkind IN ('r', 'v')
               AND c.relowner <> 'sluice_worker'::regrole LOOP
    EXECUTE format('ALTER %s %I.%I OWNER TO sluice_worker', CASE obj.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, obj.nspname, obj.relname);
  END LOOP;
END
$grants$`;

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url, application_name: 'sluice-roles' });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * As a superuser (or a role with CREATEROLE that owns `database`): creates sluice's roles when
 * missing, sets their passwords, and grants them `database` (default: the database of `adminUrl`).
 * Idempotent and safe to run from several processes at once. Returns the URLs to connect as each role.
 */
export async function ensureRoles(adminUrl: string, passwords: RolePasswords, options: { database?: string } = {}): Promise<RoleUrls> {
  if (!PASSWORD.test(passwords.owner) || !PASSWORD.test(passwords.worker)) throw new Error('role passwords must be 32 to 128 hex digits');
  await withClient(adminUrl, async (c) => {
    if (!(await canCreateRoles(c))) {
      throw new Error(
        `the PostgreSQL user of ${redactUrl(adminUrl)} may not create roles: give sluice a superuser URL once to create ${Object.values(DB_ROLES).join(', ')}, or create them as db/roles.ts describes`,
      );
    }
    await c.query('BEGIN');
    try {
      await c.query('SELECT pg_advisory_xact_lock($1)', [ROLES_LOCK_KEY]);
      await c.query("SELECT set_config('sluice.owner_password', $1, true), set_config('sluice.worker_password', $2, true)", [
        passwords.owner,
        passwords.worker,
      ]);
      await c.query(CREATE_ROLES);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
  const target = new URL(adminUrl);
  if (options.database) target.pathname = `/${options.database}`;
  await withClient(target.toString(), (c) => c.query(DATABASE_GRANTS));
  return {
    ownerUrl: urlForRole(target.toString(), DB_ROLES.owner, passwords.owner),
    workerUrl: urlForRole(target.toString(), DB_ROLES.worker, passwords.worker),
  };
}

/**
 * Runs `fn` (user SQL) as sluice_transform inside the caller's transaction, then switches back.
 * A statement that changed the role itself (`set_config('role', …)`) fails the transaction: only
 * the transform role's privileges may ever apply to user SQL.
 */
export async function asTransformRole<T>(client: ClientBase, fn: () => Promise<T>): Promise<T> {
  await client.query(`SET LOCAL ROLE ${DB_ROLES.transform}`);
  const out = await fn();
  const r = await client.query<{ role: string }>('SELECT current_user AS role');
  const role = r.rows[0]?.role;
  if (role !== DB_ROLES.transform) throw new UserSqlRoleError(role ?? 'unknown');
  await client.query('SET LOCAL ROLE NONE');
  return out;
}

/** User SQL switched its role away from sluice_transform. */
export class UserSqlRoleError extends Error {
  constructor(readonly role: string) {
    super(`user SQL changed the session's role to ${role}: user SQL runs as ${DB_ROLES.transform} and may not change it`);
    this.name = 'UserSqlRoleError';
  }
}

export interface DatabaseAccess {
  /** What workers, services and the CLI connect with. */
  workerUrl: string;
  /** What migrations run with; undefined when this process was not given one (it then does not migrate). */
  ownerUrl?: string;
  /** Set when `databaseUrl` was a superuser, used only to create the roles. */
  adminUrl?: string;
}

/**
 * What to connect as, given the URL a user configured: a superuser URL is used once to create the
 * roles (passwords kept in `passwordsFile`) and then never again; any other URL is taken to be the
 * worker's, with migrations run only when `ownerUrl` (SLUICE_DATABASE_OWNER_URL) is given.
 */
export async function resolveDatabaseAccess(
  databaseUrl: string,
  options: { passwordsFile: string; passwords?: RolePasswords; ownerUrl?: string },
): Promise<DatabaseAccess> {
  const admin = await withClient(databaseUrl, canCreateRoles);
  if (!admin) return { workerUrl: databaseUrl, ownerUrl: options.ownerUrl };
  const roles = await ensureRoles(databaseUrl, options.passwords ?? loadRolePasswords(options.passwordsFile));
  return { workerUrl: roles.workerUrl, ownerUrl: roles.ownerUrl, adminUrl: databaseUrl };
}
