/**
 * Transform registration: a versioned SELECT over a log range, checked by PostgreSQL itself
 * (planned and run with LIMIT 0 in a read-only transaction) before anything is created, then
 * stored in sluice.transforms with the derived table `<name>__v<N>` in one transaction.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { Pool, PoolClient } from 'pg';
import { asTransformRole, UserSqlRoleError } from '../../db/roles';
import { inTransaction } from '../../db/transaction';
import { ErrorCodes } from '../../api/errors';
import { SOURCE_NAME_PATTERN } from '../../api/names';
import { SluiceError } from '../failures';
import { SEQ_COLUMN, checkTransformName, checkTransformSqlText, checkVersion, derivedTable, derivedView, quoteIdent } from './sqlText';

import type {
  RegisterTransformInput,
  RegisterTransformResult,
  TransformColumn,
  TransformLimits,
} from '../../api/workflows/registerTransform';

export type { RegisterTransformInput, RegisterTransformResult, TransformColumn };

export interface TransformDefinition {
  name: string;
  version: number;
  sources: string[];
  sql: string;
  /** As registered; unset ones take DEFAULT_TRANSFORM_LIMITS. */
  limits?: TransformLimits;
}

const COLUMN_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;
/** SQLSTATE classes that mean "this SQL is wrong", not "the database is unwell". */
const PERMANENT_SQLSTATE_CLASSES = ['42', '22', '0A', '25', '21', '2B', '2F', '38', '39', '3F', '44'];

function invalid(message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorCodes.InvalidTransform,
    nonRetryable: true,
    message,
    details: details === undefined ? undefined : [details],
  });
}

/**
 * SQLSTATE classes whose messages speak of the SQL text (syntax, names, features), which the
 * transform's author wrote: kept whole. Every other class (data exceptions, constraint violations,
 * RAISE …) may quote the values of the rows, which can be anything that landed in the log, even a
 * secret in a quarantined payload: those messages are cut to the code, the position and the column
 * before they reach workflow history; the whole message goes to the worker log and the run event.
 */
const SQL_TEXT_SQLSTATE_CLASSES = ['42', '0A', '25', '2B', '3F', '44'];

/** Turns a PostgreSQL error caused by the transform's SQL into a permanent failure; others stay retryable. */
export function sqlFailure(err: unknown, what: string): Error {
  const e = err as { code?: unknown; message?: string; position?: string; column?: string; routine?: string };
  const code = e.code;
  if (err instanceof UserSqlRoleError) return invalid(`${what}: ${err.message}`);
  // The transform's own statement_timeout (limits.statementTimeoutMs): the same range would run as
  // long again. A cancel by the activity's cancellation has the same SQLSTATE but another message.
  if (code === '57014' && /statement timeout/.test(e.message ?? '')) {
    return invalid(
      `${what}: the statement ran past its statement_timeout (raise limits.statementTimeoutMs when registering, or split the work) (SQLSTATE 57014)`,
    );
  }
  if (typeof code !== 'string' || !PERMANENT_SQLSTATE_CLASSES.includes(code.slice(0, 2))) return err as Error;
  if (SQL_TEXT_SQLSTATE_CLASSES.includes(code.slice(0, 2))) return invalid(`${what}: ${e.message ?? ''} (SQLSTATE ${code})`);
  const where = [e.position ? `at position ${e.position}` : '', e.column ? `column ${e.column}` : ''].filter(Boolean).join(', ');
  const safe = `${what}: SQLSTATE ${code}${where ? ` (${where})` : ''}; the message quotes row values, so it is only in the worker log and the run event`;
  process.stderr.write(`[sluice worker] ${what}: ${e.message ?? ''} (SQLSTATE ${code})\n`);
  return new SluiceError(ErrorCodes.InvalidTransform, safe, {
    details: { sqlstate: code, position: e.position, column: e.column },
    internal: `${e.message ?? ''} (SQLSTATE ${code})`,
  });
}

export function sqlSha256(sql: string): string {
  return createHash('sha256').update(sql, 'utf8').digest('hex');
}

/** Checks everything that can be checked without a database; throws SLUICE_INVALID_TRANSFORM. */
export function checkRegistrationInput(input: RegisterTransformInput): string {
  const name = checkTransformName(input.name);
  if (!name.ok) throw invalid(name.message);
  const version = checkVersion(input.version);
  if (!version.ok) throw invalid(version.message);
  if (!Array.isArray(input.sources) || input.sources.length === 0 || input.sources.length > 64) {
    throw invalid('sources must list 1 to 64 source names');
  }
  for (const s of input.sources) {
    if (typeof s !== 'string' || !SOURCE_NAME_PATTERN.test(s))
      throw invalid(`source ${JSON.stringify(s)} must match ${SOURCE_NAME_PATTERN.source} (sources are named by their contract)`);
  }
  if (new Set(input.sources).size !== input.sources.length) throw invalid('sources must not repeat');
  const sql = checkTransformSqlText(input.sql);
  if (!sql.ok) throw invalid(sql.message);
  return sql.text;
}

/**
 * Learns the columns of the transform's SELECT by running it with LIMIT 0 in a read-only
 * transaction, so SQL that does not plan, writes, or has no `seq bigint` column is refused.
 */
async function describeColumns(pool: Pool, sql: string): Promise<TransformColumn[]> {
  return inTransaction(
    pool,
    async (client) => {
      let fields: { name: string; dataTypeID: number; dataTypeModifier: number }[];
      try {
        // Wrapping in a subquery admits only SELECT / WITH ... SELECT / VALUES: anything else is a syntax error.
        // The transform's own SQL (a registered, reviewed definition; it reads its range as $1, $2), read-only, as the transform role.
        const r = await asTransformRole(client, () =>
          // eslint-disable-next-line sluice/sql-values-bound -- transform SQL is code by design
          client.query({ text: `SELECT * FROM (\n${sql}\n) AS transform_output LIMIT 0`, values: ['0', '0'] }),
        );
        fields = r.fields;
      } catch (err) {
        throw sqlFailure(err, 'transform SQL does not plan');
      }
      const bad = fields.find((f) => !COLUMN_PATTERN.test(f.name));
      if (bad)
        throw invalid(`transform SQL column ${JSON.stringify(bad.name)} must be named (AS a_name) with lower-case letters, digits and "_"`);
      const types = await client.query<{ t: string }>(
        'SELECT format_type(u.oid, u.mod) AS t FROM unnest($1::oid[], $2::int[]) WITH ORDINALITY AS u(oid, mod, i) ORDER BY u.i',
        [fields.map((f) => f.dataTypeID), fields.map((f) => f.dataTypeModifier)],
      );
      const columns: TransformColumn[] = fields.map((f, i) => ({ name: f.name, type: types.rows[i]?.t ?? 'unknown' }));
      const names = columns.map((c) => c.name);
      const dup = names.find((n, i) => names.indexOf(n) !== i);
      if (dup) throw invalid(`transform SQL has two columns named ${dup}`);
      const seq = columns.find((c) => c.name === SEQ_COLUMN);
      if (!seq || seq.type !== 'bigint') {
        throw invalid(
          `transform SQL must return a column "${SEQ_COLUMN}" of type bigint (the log offset each row comes from; it orders the content hash)`,
        );
      }
      return columns;
    },
    { readOnly: true },
  );
}

/** CREATE TABLE for a version's rows, from the learned columns (types come from format_type, names from the allow-list). */
export function createTableSql(qualifiedTable: string, columns: TransformColumn[]): string {
  for (const c of columns) {
    if (!/^[a-z][a-z0-9 _,()"[\].]*$/i.test(c.type)) throw new Error(`unexpected column type text ${JSON.stringify(c.type)}`);
  }
  // eslint-disable-next-line sluice/sql-values-bound -- names quoted, types checked above, table from derivedTable()/buildTable()
  return `CREATE TABLE ${qualifiedTable} (${columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ')})`;
}

/** Serialises registrations and switches of one transform. */
export async function lockTransform(client: PoolClient, name: string): Promise<void> {
  await client.query("SELECT pg_advisory_xact_lock(hashtext('sluice.transform:' || $1))", [name]);
}

/**
 * Registers version `version` of transform `name`: validates it, stores it, creates its table and
 * its watermark rows; the first version of a transform also gets the view and becomes live.
 * All in one transaction: a failure creates nothing. Idempotent for the same SQL and sources;
 * the same version with other SQL throws SLUICE_TRANSFORM_VERSION_CONFLICT (a version never
 * changes). Bad input throws SLUICE_INVALID_TRANSFORM.
 */
export async function registerTransformVersion(pool: Pool, input: RegisterTransformInput): Promise<RegisterTransformResult> {
  const sql = checkRegistrationInput(input);
  const sha = sqlSha256(sql);
  const sources = [...input.sources].sort();
  const columns = await describeColumns(pool, sql);
  try {
    return await inTransaction(pool, async (client) => {
      await lockTransform(client, input.name);
      const prior = await client.query<{ sql_sha256: string; sources: string[] }>(
        'SELECT sql_sha256, sources FROM sluice.transforms WHERE name = $1 AND version = $2',
        [input.name, input.version],
      );
      const live = await client.query<{ version: number }>('SELECT version FROM sluice.transform_live WHERE name = $1', [input.name]);
      const existing = prior.rows[0];
      if (existing) {
        if (existing.sql_sha256 !== sha || existing.sources.join('\n') !== sources.join('\n')) {
          throw ApplicationFailure.create({
            type: ErrorCodes.TransformVersionConflict,
            nonRetryable: true,
            message: `transform ${input.name} version ${input.version} is already registered with other SQL or sources (sql_sha256 ${existing.sql_sha256.slice(0, 12)}); a version never changes: register version ${input.version + 1}`,
          });
        }
        return {
          name: input.name,
          version: input.version,
          sqlSha256: sha,
          columns,
          created: false,
          liveVersion: live.rows[0]?.version ?? input.version,
        };
      }
      await client.query(
        'INSERT INTO sluice.transforms (name, version, sources, sql, sql_sha256, description, limits) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [input.name, input.version, sources, sql, sha, input.description ?? null, JSON.stringify(input.limits ?? {})],
      );
      await client.query(createTableSql(derivedTable(input.name, input.version), columns));
      // Reading back in seq order (content hash, consumers' incremental reads) walks this index.
      await client.query(`CREATE INDEX ON ${derivedTable(input.name, input.version)} (${quoteIdent(SEQ_COLUMN)})`);
      await client.query(
        'INSERT INTO sluice.watermarks (name, version, source, last_seq) SELECT $1, $2, s, 0 FROM unnest($3::text[]) AS s',
        [input.name, input.version, sources],
      );
      let liveVersion = live.rows[0]?.version;
      if (liveVersion === undefined) {
        await client.query(`CREATE VIEW ${derivedView(input.name)} AS SELECT * FROM ${derivedTable(input.name, input.version)}`);
        await client.query('INSERT INTO sluice.transform_live (name, version) VALUES ($1, $2)', [input.name, input.version]);
        liveVersion = input.version;
      }
      return { name: input.name, version: input.version, sqlSha256: sha, columns, created: true, liveVersion };
    });
  } catch (err) {
    throw sqlFailure(err, `cannot register transform ${input.name} v${input.version}`);
  }
}

/** Reads a registered version (the latest when `version` is omitted); SLUICE_UNKNOWN_TRANSFORM if none. */
export async function loadTransform(db: Pool | PoolClient, name: string, version?: number): Promise<TransformDefinition> {
  const check = checkTransformName(name);
  if (!check.ok) throw invalid(check.message);
  const r = await db.query<{ version: number; sources: string[]; sql: string; limits: TransformLimits }>(
    `SELECT version, sources, sql, limits FROM sluice.transforms WHERE name = $1 AND ($2::int IS NULL OR version = $2) ORDER BY version DESC LIMIT 1`,
    [name, version ?? null],
  );
  const row = r.rows[0];
  if (!row) {
    throw ApplicationFailure.create({
      type: ErrorCodes.UnknownTransform,
      nonRetryable: true,
      message: `unknown transform ${name}${version === undefined ? '' : ` version ${version}`}: register it first`,
    });
  }
  return { name, version: row.version, sources: row.sources, sql: row.sql, limits: row.limits };
}

/**
 * The live version's definition in one query (the view's version, or the latest registered one
 * when no version was made live yet); SLUICE_UNKNOWN_TRANSFORM when the transform was never registered.
 */
export async function loadLiveTransform(db: Pool | PoolClient, name: string): Promise<TransformDefinition> {
  const r = await db.query<{ version: number; sources: string[]; sql: string; limits: TransformLimits }>(
    `SELECT t.version, t.sources, t.sql, t.limits
     FROM sluice.transforms t JOIN sluice.transform_live l ON l.name = t.name AND l.version = t.version
     WHERE t.name = $1`,
    [name],
  );
  const row = r.rows[0];
  if (!row) return loadTransform(db, name); // no live pointer yet: the latest version (throws when unknown)
  return { name, version: row.version, sources: row.sources, sql: row.sql, limits: row.limits };
}
