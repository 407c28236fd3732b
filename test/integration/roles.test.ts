// Least privilege in PostgreSQL: what sluice_worker (every worker connection) and sluice_transform
// (user SQL: transforms and custom_sql expectations) may not do, tried as those roles, from inside
// a registered transform and from inside a custom_sql expectation.
import type { PoolClient } from 'pg';
import { runSuiteOnDataset } from '../../activities/validate';
import { registerTransformVersion } from '../../activities/transform/registry';
import { runPlannedChunk } from '../../activities/transform/chunks';
import { DB_ROLES } from '../../db/roles';
import { quoteIdent } from '../../db/sql';
import type { Contract } from '../../contracts/registry';
import { createTestDatabase, type TestDatabase } from '../helpers/env';

/** What a hostile user would try first; each must be refused by PostgreSQL itself. */
const ATTEMPTS: [string, string][] = [
  ['UPDATE on the log', 'UPDATE sluice.raw_events SET payload = payload'],
  ['DELETE on the log', 'DELETE FROM sluice.raw_events'],
  ['TRUNCATE on the log', 'TRUNCATE sluice.raw_events'],
  ['UPDATE on the quarantine', "UPDATE sluice.quarantine SET reason = '{}'"],
  ['DELETE on the run events', 'DELETE FROM sluice.run_events'],
  ['disabling the log trigger', 'ALTER TABLE sluice.raw_events DISABLE TRIGGER USER'],
  ['reading a server file', "SELECT pg_read_file('/etc/hostname')"],
  ['running a server program', "COPY (SELECT 1) TO PROGRAM 'true'"],
  ['writing a server file', "COPY (SELECT 1) TO '/tmp/sluice-roles-test'"],
  ['turning triggers off for the session', "SELECT set_config('session_replication_role', 'replica', false)"],
  ['becoming the owner', 'SET ROLE sluice_owner'],
];

async function refused(client: PoolClient, sql: string): Promise<string> {
  await client.query('SAVEPOINT attempt');
  try {
    await client.query(sql);
  } catch (err) {
    await client.query('ROLLBACK TO SAVEPOINT attempt');
    return (err as Error).message;
  }
  await client.query('ROLLBACK TO SAVEPOINT attempt');
  throw new Error(`${sql} was allowed`);
}

describe('PostgreSQL roles', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(
      `INSERT INTO sluice.raw_events (source, event_id, contract, contract_version, payload, batch_id)
       VALUES ('ingest_test_orders', 'r1', 'ingest_test_orders', '1.0.0', '{"id":"r1","amount":5}', 'b1')`,
    );
    await db.pool.query(`INSERT INTO sluice.quarantine (source, event_id, batch_id, reason) VALUES ('s', 'q1', 'b1', '{"code":"x"}')`);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('the worker role is no superuser and holds none of the server-file roles', async () => {
    const { rows } = await db.pool.query<{ who: string; su: boolean; createrole: boolean; members: string[] }>(
      `SELECT current_user AS who, r.rolsuper AS su, r.rolcreaterole AS createrole,
              ARRAY(SELECT b.rolname FROM pg_roles b WHERE pg_has_role(current_user, b.oid, 'MEMBER') ORDER BY 1)::text[] AS members
       FROM pg_roles r WHERE r.rolname = current_user`,
    );
    expect(rows[0]).toEqual({ who: DB_ROLES.worker, su: false, createrole: false, members: [DB_ROLES.transform, DB_ROLES.worker] });
  });

  describe.each([
    ['sluice_worker', false],
    ['sluice_transform', true],
  ])('as %s', (_role, asTransform) => {
    it.each(ATTEMPTS)('refuses %s', async (_what, sql) => {
      const client = await db.pool.connect();
      try {
        await client.query('BEGIN');
        if (asTransform) await client.query('SET LOCAL ROLE sluice_transform');
        const message = await refused(client, sql);
        expect(message).toMatch(/permission denied|must be (owner|superuser)|must be a member|only superuser|privileges of/i);
        await client.query('ROLLBACK');
      } finally {
        client.release();
      }
      const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM sluice.raw_events');
      expect(rows[0]?.n).toBe(1);
    });
  });

  it('the transform role reads the log but not the quarantine, the registry or the run events', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE sluice_transform');
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM sluice.raw_events');
      expect(rows[0]?.n).toBe(1);
      for (const table of ['quarantine', 'transforms', 'run_events', 'models']) {
        expect(await refused(client, `SELECT * FROM sluice.${quoteIdent(table)}`)).toMatch(/permission denied/);
      }
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });

  describe('user SQL in a registered transform', () => {
    const register = (name: string, select: string) =>
      registerTransformVersion(db.pool, {
        name,
        version: 1,
        sources: ['ingest_test_orders'],
        // eslint-disable-next-line sluice/sql-values-bound -- the user SQL under test
        sql: `SELECT seq, ${select} AS x FROM sluice.raw_events WHERE source = 'ingest_test_orders' AND seq BETWEEN $1 AND $2`,
      });
    const runChunk = (name: string) =>
      runPlannedChunk(db.pool, { transform: name, version: 1, fromSeq: '1', toSeq: '1', rowsRead: 1 }, undefined, { turnWaitMs: 1000 });

    it.each([
      ['reads a server file', "pg_read_file('/etc/hostname')", /permission denied/],
      ['reads the quarantine', '(SELECT count(*) FROM sluice.quarantine)', /permission denied/],
      ['turns triggers off', "set_config('session_replication_role', 'replica', true)", /permission denied/],
    ])('is refused when it %s', async (what, select, expected) => {
      const name = `t_${what.replace(/\W+/g, '_')}`;
      // Refused when its columns are learned (it runs with LIMIT 0 as the transform role) or when a chunk runs it.
      const outcome = await register(name, select).then(
        () =>
          runChunk(name).then(
            () => 'ran',
            (err: Error) => err.message,
          ),
        (err: Error) => err.message,
      );
      expect(outcome).toMatch(expected);
    });

    it('cannot switch back to the worker role: the chunk fails and writes nothing', async () => {
      await register('t_role_switch', "set_config('role', 'sluice_worker', true)");
      await expect(runChunk('t_role_switch')).rejects.toThrow(/changed the session's role to sluice_worker/);
      const { rows } = await db.pool.query<{ n: number; wm: string }>(
        `SELECT (SELECT count(*)::int FROM sluice_derived.t_role_switch__v1) AS n,
                (SELECT min(last_seq)::text FROM sluice.watermarks WHERE name = 't_role_switch') AS wm`,
      );
      expect(rows[0]).toEqual({ n: 0, wm: '0' });
    });

    it('a well-behaved transform still runs as the transform role', async () => {
      await register('t_fine', "(payload->>'amount')::int");
      const r = await runChunk('t_fine');
      expect(r).toMatchObject({ outcome: 'committed', rowsWritten: 1 });
    });
  });

  it('a custom_sql expectation runs as the transform role: a server file read is refused', async () => {
    const contract: Contract = {
      contract: 'ingest_test_orders',
      version: '1.0.0',
      owner: 'o',
      schema: { type: 'object' },
      pii: [],
      expectations: [{ type: 'custom_sql', name: 'steal', failingRowsWhere: "pg_read_file('/etc/hostname') IS NOT NULL" }],
      file: 'test',
    };
    const outcome = await runSuiteOnDataset(db.pool, contract, {
      dataset: { kind: 'log', source: 'ingest_test_orders' },
      profile: false,
    }).then(
      (r) => JSON.stringify(r.run.results),
      (err: Error) => err.message,
    );
    expect(outcome).toMatch(/permission denied for function pg_read_file/);
  });
});
