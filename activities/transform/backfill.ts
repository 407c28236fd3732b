/**
 * Backfill (rebuild) of a transform version from a log range: an empty build table first, chunks
 * into it (chunks.ts), then the content hash, the determinism check and the atomic switch.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import { ErrorCodes } from '../../api/errors';
import type { FinishBackfillResult } from '../../api/workflows/backfill';
import { contentHash } from './contentHash';
import { inTransaction } from '../../db/transaction';
import { advanceWatermark, commitHorizon, lockVersionTable, readWatermark } from './chunks';
import { loadTransform, lockTransform } from './registry';
import { DERIVED_SCHEMA, SEQ_COLUMN, buildTable, checkBuildId, derivedTable, derivedView, quoteIdent } from './sqlText';

export interface PrepareBackfillInput {
  buildId: string;
  transform: string;
  /** Default: the latest registered version. */
  version?: number;
  /** Inclusive log range (decimal strings); default: the whole committed log. */
  fromSeq?: string;
  toSeq?: string;
  /** The build will replace the version's table (default true): then the range must start at seq 1. */
  switchView?: boolean;
}

export interface PreparedBackfill {
  buildId: string;
  transform: string;
  version: number;
  fromSeq: string;
  toSeq: string;
}

function badRange(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ErrorCodes.InvalidRange, nonRetryable: true, message });
}

/**
 * Resolves the version and the range and creates the (empty) build table. Idempotent (the table is
 * created if missing). Throws SLUICE_UNKNOWN_TRANSFORM, SLUICE_INVALID_RANGE (from > to, a range
 * past the end of the committed log, or a switching backfill that does not start at seq 1).
 */
export async function prepareBackfill(pool: Pool, input: PrepareBackfillInput): Promise<PreparedBackfill> {
  const id = checkBuildId(input.buildId);
  if (!id.ok) throw badRange(id.message);
  const def = await loadTransform(pool, input.transform, input.version);
  const horizon = await commitHorizon(pool);
  const from = BigInt(input.fromSeq ?? '1');
  const to = input.toSeq === undefined ? horizon : BigInt(input.toSeq);
  if (from < 1n) throw badRange(`fromSeq ${from} must be at least 1`);
  if (from > to)
    throw badRange(`fromSeq ${from} is after toSeq ${to}${input.toSeq === undefined ? ' (the end of the committed log)' : ''}`);
  if (to > horizon) throw badRange(`toSeq ${to} is past the end of the committed log (${horizon}): those rows do not exist yet`);
  if (from > 1n && (input.switchView ?? true)) {
    throw badRange(
      `fromSeq ${from}: a backfill that switches the view replaces the whole table, and its rows before seq ${from} would be lost; ` +
        'rebuild from seq 1, or pass switchView: false to build and hash the range without switching',
    );
  }
  const table = buildTable(input.buildId);
  await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (LIKE ${derivedTable(def.name, def.version)} INCLUDING DEFAULTS)`);
  return { buildId: input.buildId, transform: def.name, version: def.version, fromSeq: from.toString(), toSeq: to.toString() };
}

export interface FinishBackfillInput extends PreparedBackfill {
  /** Refuse to switch unless the content hash equals this. */
  expectedSha256?: string;
  /** Make the rebuilt version live (default true); false: record the hash and drop the build. */
  switchView: boolean;
  workflowId: string;
}

export type { FinishBackfillResult };

/**
 * Hashes the build table (streaming), checks determinism, then in one transaction replaces
 * `<name>__v<N>` by the build, moves the watermark to the end of the range and points the view
 * `<name>` at version N. Determinism: a build of a (version, range) that was built before must
 * give the recorded sha256, else SLUICE_NOT_DETERMINISTIC and nothing is switched. Idempotent:
 * a retry after the commit returns the recorded result.
 */
export async function finishBackfill(
  pool: Pool,
  input: FinishBackfillInput,
  onProgress: (rows: number) => void,
): Promise<FinishBackfillResult> {
  const recorded = await pool.query<{ sha256: string; rows: string; switched: boolean }>(
    'SELECT sha256, rows::text, switched FROM sluice.transform_builds WHERE build_id = $1',
    [input.buildId],
  );
  const prior = recorded.rows[0];
  if (prior) return { sha256: prior.sha256, rows: Number(prior.rows), switched: prior.switched };

  const build = buildTable(input.buildId);
  // One index build after the load is cheaper than maintaining it through every chunk.
  await pool.query(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`b_${input.buildId}_seq`)} ON ${build} (${quoteIdent(SEQ_COLUMN)})`);
  const hash = await contentHash(pool, build, onProgress);
  const earlier = await pool.query<{ sha256: string; build_id: string }>(
    'SELECT sha256, build_id FROM sluice.transform_builds WHERE name = $1 AND version = $2 AND from_seq = $3 AND to_seq = $4 ORDER BY finished_at LIMIT 1',
    [input.transform, input.version, input.fromSeq, input.toSeq],
  );
  const reference = input.expectedSha256 ?? earlier.rows[0]?.sha256;
  if (reference !== undefined && reference !== hash.sha256) {
    throw ApplicationFailure.create({
      type: ErrorCodes.NotDeterministic,
      nonRetryable: true,
      message:
        `rebuild of ${input.transform} v${input.version} over [${input.fromSeq}, ${input.toSeq}] has sha256 ${hash.sha256}, expected ${reference}` +
        (input.expectedSha256 === undefined ? ` (build ${earlier.rows[0]?.build_id})` : '') +
        '; the view was not switched',
      details: [{ sha256: hash.sha256, expected: reference }],
    });
  }
  await inTransaction(pool, async (client) => {
    await lockTransform(client, input.transform);
    if (input.switchView) {
      // The table, then the watermark rows, as every incremental chunk takes them: the switch waits
      // for the chunks in flight, and a chunk runs before or after it, never across it.
      await lockVersionTable(client, input.transform, input.version, 'ACCESS EXCLUSIVE');
      await readWatermark(client, input.transform, input.version, true);
      const target = derivedTable(input.transform, input.version);
      const view = derivedView(input.transform);
      // Repoint the view in place when the columns allow it (views users built on it keep working);
      // a version with other columns needs the view dropped and created again.
      await client.query('SAVEPOINT repoint_view');
      try {
        await client.query(`CREATE OR REPLACE VIEW ${view} AS SELECT * FROM ${build}`);
        await client.query('RELEASE SAVEPOINT repoint_view');
      } catch (err) {
        if ((err as { code?: string }).code !== '42P16') throw err; // invalid_table_definition: columns differ
        await client.query('ROLLBACK TO SAVEPOINT repoint_view');
        await client.query(`DROP VIEW IF EXISTS ${view}`);
        await client.query(`CREATE VIEW ${view} AS SELECT * FROM ${build}`);
      }
      // The view follows the table by identity through the move and the rename.
      await client.query(`DROP TABLE IF EXISTS ${target}`);
      await client.query(`ALTER TABLE ${build} SET SCHEMA ${quoteIdent(DERIVED_SCHEMA)}`);
      await client.query(
        `ALTER TABLE ${quoteIdent(DERIVED_SCHEMA)}.${quoteIdent(`b_${input.buildId}`)} RENAME TO ${quoteIdent(`${input.transform}__v${input.version}`)}`,
      );
      await client.query(
        `INSERT INTO sluice.transform_live (name, version) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, switched_at = now()`,
        [input.transform, input.version],
      );
      await advanceWatermark(client, input.transform, input.version, BigInt(input.toSeq));
    } else {
      await client.query(`DROP TABLE ${build}`);
    }
    await client.query(
      `INSERT INTO sluice.transform_builds (build_id, name, version, from_seq, to_seq, rows, sha256, switched, workflow_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        input.buildId,
        input.transform,
        input.version,
        input.fromSeq,
        input.toSeq,
        hash.rows,
        hash.sha256,
        input.switchView,
        input.workflowId,
      ],
    );
  });
  return { sha256: hash.sha256, rows: hash.rows, switched: input.switchView };
}

/** Drops the build table of a backfill that failed (idempotent). */
export async function discardBuild(pool: Pool, buildId: string): Promise<void> {
  await pool.query(`DROP TABLE IF EXISTS ${buildTable(buildId)}`);
}
