import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Pool } from 'pg';
import { createPool } from '../../db/pool';
import { migrate, readMigrations } from '../../db/migrate';
import { quoteIdent } from '../../db/sql';
import { createTestDatabase, type TestDatabase } from '../helpers/env';

describe('migrations', () => {
  let db: TestDatabase;
  /** Migrations run as sluice_owner; so do the checks that the triggers stop even the owner. */
  let owner: Pool;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    owner = createPool(db.ownerUrl, { max: 2 });
  });
  afterAll(async () => {
    await owner?.end();
    await db?.drop();
  });

  it('apply once, in order, recorded, and are safe to run concurrently', async () => {
    const second = createPool(db.ownerUrl, { max: 2 });
    try {
      const [a, b] = await Promise.all([migrate(owner), migrate(second)]);
      const total = readMigrations().length;
      // exactly one of the two runs applied everything; the other waited on the lock and found nothing to do
      expect([a.applied.length, b.applied.length].sort()).toEqual([0, total]);
      const { rows } = await db.pool.query<{ version: number }>('SELECT version FROM sluice.schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(readMigrations().map((m) => m.version));
      const again = await migrate(owner);
      expect(again).toEqual({ applied: [], alreadyApplied: total });
    } finally {
      await second.end();
    }
  });

  it('refuses an applied migration whose file has changed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-mig-'));
    for (const m of readMigrations()) fs.writeFileSync(path.join(dir, m.name), m.sql);
    const first = readMigrations()[0]!;
    fs.appendFileSync(path.join(dir, first.name), '\n-- edited\n');
    await expect(migrate(owner, { dir })).rejects.toThrow(/was changed after it was applied/);
    fs.rmSync(dir, { recursive: true });
  });

  it('rejects badly named migration files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-mig-'));
    fs.writeFileSync(path.join(dir, 'init.sql'), 'select 1');
    expect(() => readMigrations(dir)).toThrow(/must look like 0001_name.sql/);
    fs.rmSync(dir, { recursive: true });
  });

  describe.each(['raw_events', 'quarantine', 'run_events'])('sluice.%s is append-only, even for its owner', (table) => {
    beforeAll(async () => {
      if (table === 'raw_events') {
        await db.pool.query(
          `INSERT INTO sluice.raw_events (source, event_id, contract, contract_version, payload, batch_id)
           VALUES ('s', 'e1', 'c', '1.0.0', '{"a":1}', 'b1')`,
        );
      } else if (table === 'quarantine') {
        await db.pool.query(`INSERT INTO sluice.quarantine (source, event_id, batch_id, reason) VALUES ('s', 'e1', 'b1', '{"code":"x"}')`);
      } else {
        await db.pool.query(
          `INSERT INTO sluice.run_events (workflow_id, run_id, workflow_type, step, status) VALUES ('w', 'r', 't', 's', 'started')`,
        );
      }
    });

    it('accepts INSERT', async () => {
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM sluice.${quoteIdent(table)}`);
      expect(rows[0].n).toBe(1);
    });
    it('refuses UPDATE', async () => {
      await expect(
        owner.query(
          `UPDATE sluice.${quoteIdent(table)} SET workflow_id = workflow_id`.replace(
            /workflow_id/g,
            table === 'run_events' ? 'workflow_id' : 'source',
          ),
        ),
      ).rejects.toThrow(`sluice.${table} is append-only: UPDATE is not allowed`);
    });
    it('refuses DELETE', async () => {
      await expect(owner.query(`DELETE FROM sluice.${quoteIdent(table)}`)).rejects.toThrow(
        `sluice.${table} is append-only: DELETE is not allowed`,
      );
    });
    it('refuses TRUNCATE', async () => {
      // CASCADE, so that a referencing table (quarantine_resolutions) does not refuse it first for another reason
      await expect(owner.query(`TRUNCATE sluice.${quoteIdent(table)} CASCADE`)).rejects.toThrow(
        /sluice\.\w+ is append-only: TRUNCATE is not allowed/,
      );
      await expect(owner.query(`TRUNCATE sluice.${quoteIdent(table)}`)).rejects.toThrow();
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM sluice.${quoteIdent(table)}`);
      expect(rows[0].n).toBe(1);
    });
  });
});

describe('append-only is the rule in schema sluice', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** Tables that hold pointers or progress, not facts: they change by design. */
  const MUTABLE = new Set(['schema_migrations', 'transform_live', 'watermarks', 'model_aliases']);

  it('every fact table refuses UPDATE, DELETE and TRUNCATE by trigger', async () => {
    const { rows } = await db.pool.query<{ table: string; update: boolean; del: boolean; truncate: boolean }>(`
      SELECT c.relname AS table,
             bool_or(t.tgtype & 16 <> 0 AND t.tgtype & 2 <> 0) AS update,
             bool_or(t.tgtype & 8 <> 0 AND t.tgtype & 2 <> 0) AS del,
             bool_or(t.tgtype & 32 <> 0 AND t.tgtype & 2 <> 0) AS truncate
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'sluice'
      LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal AND t.tgfoid = 'sluice.refuse_mutation'::regproc
      WHERE c.relkind = 'r'
      GROUP BY c.relname ORDER BY c.relname`);
    const facts = rows.filter((r) => !MUTABLE.has(r.table));
    expect(facts.map((r) => r.table)).toEqual(expect.arrayContaining(['raw_events', 'quarantine', 'run_events', 'transforms']));
    for (const r of facts) expect(r).toEqual({ table: r.table, update: true, del: true, truncate: true });
  });
});
