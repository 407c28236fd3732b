/**
 * Where an expectation suite runs: a table (a derived table version or its view) or a log range of
 * a source, resolved into a SQL subquery whose columns are the record's fields. Identifiers come
 * only from the catalog (information_schema) or the contract, are checked against a strict pattern
 * and quoted; values are bound parameters.
 */
import type { PoolClient } from 'pg';
import type { DatasetRef } from '../../api/workflows/validate';
import { isIdentifier, quoteIdent } from '../../db/sql';
import type { Contract } from '../../contracts/registry';

export type { DatasetRef };
/** The one quoting helper (db/sql.ts), re-exported for the SQL builders of this step. */
export { quoteIdent };

export type ColumnKind = 'numeric' | 'text' | 'boolean' | 'time' | 'other';

export interface ResolvedDataset {
  /** `(SELECT ...)` usable as `FROM <sql> d`; its parameters start at $1. */
  sql: string;
  /**
   * Type of the hidden column {@link POSITION_COLUMN}, a physical (tid) or log (seq) position
   * that a scan can start from; undefined for views, which have neither.
   */
  position?: 'tid' | 'bigint';
  params: unknown[];
  columns: Map<string, ColumnKind>;
  describe: string;
}

/** Schemas a table dataset may live in (the allow-list for the schema identifier). */
export const DATASET_SCHEMAS = ['sluice_derived', 'sluice_reference'] as const;
/** Hidden column of a resolved dataset: where a row is, so that sampling can skip to the first failing row. */
export const POSITION_COLUMN = '__sluice_pos';

export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

function kindOfPgType(t: string): ColumnKind {
  if (/^(smallint|integer|bigint|numeric|real|double precision)$/.test(t)) return 'numeric';
  if (/^(text|character varying|character|uuid|citext)$/.test(t)) return 'text';
  if (t === 'boolean') return 'boolean';
  if (/^(timestamp|date)/.test(t)) return 'time';
  return 'other';
}

function kindOfJsonSchema(s: unknown): ColumnKind {
  const schema = (s ?? {}) as { type?: string | string[]; format?: string };
  const types = (Array.isArray(schema.type) ? schema.type : [schema.type]).filter((t) => t !== 'null');
  if (types.length !== 1) return 'other';
  if (types[0] === 'integer' || types[0] === 'number') return 'numeric';
  if (types[0] === 'boolean') return 'boolean';
  if (types[0] === 'string') return schema.format === 'date-time' ? 'time' : 'text';
  return 'other';
}

export async function tableColumns(db: PoolClient, schema: string, table: string): Promise<Map<string, ColumnKind>> {
  const { rows } = await db.query<{ column_name: string; data_type: string }>(
    'SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
    [schema, table],
  );
  return new Map(rows.filter((r) => isIdentifier(r.column_name)).map((r) => [r.column_name, kindOfPgType(r.data_type)]));
}

export async function resolveDataset(
  db: PoolClient,
  ref: Exclude<DatasetRef, { kind: 'arrow' }>,
  contract: Contract,
): Promise<ResolvedDataset> {
  if (ref.kind === 'table') {
    const schema = ref.schema ?? 'sluice_derived';
    if (!(DATASET_SCHEMAS as readonly string[]).includes(schema))
      throw new DatasetError(`Schema ${JSON.stringify(schema)} is not one of ${DATASET_SCHEMAS.join(', ')}`);
    const columns = await tableColumns(db, schema, ref.table);
    if (!columns.size) throw new DatasetError(`Table ${schema}.${ref.table} does not exist (or has no columns)`);
    const { rows } = await db.query<{ table_type: string }>(
      'SELECT table_type FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2',
      [schema, ref.table],
    );
    const name = `${quoteIdent(schema)}.${quoteIdent(ref.table)}`;
    const isTable = rows[0]?.table_type === 'BASE TABLE';
    return {
      sql: isTable ? `(SELECT ctid AS ${POSITION_COLUMN}, * FROM ${name})` : `(SELECT * FROM ${name})`,
      ...(isTable ? { position: 'tid' as const } : {}),
      params: [],
      columns,
      describe: `table ${schema}.${ref.table}`,
    };
  }
  // A log range: the contract's top-level fields become columns, cast by their JSON Schema type.
  // The log holds only records that passed their contract, so the casts cannot fail on a type.
  const props = (contract.schema.properties ?? {}) as Record<string, unknown>;
  const columns = new Map<string, ColumnKind>([
    ['seq', 'numeric'],
    ['event_id', 'text'],
    ['event_time', 'time'],
    ['ingested_at', 'time'],
  ]);
  const select = [`r.seq AS ${POSITION_COLUMN}`, 'r.seq', 'r.event_id', 'r.event_time', 'r.ingested_at'];
  for (const [name, s] of Object.entries(props)) {
    if (!isIdentifier(name) || columns.has(name)) continue;
    const kind = kindOfJsonSchema(s);
    const text = `(r.payload ->> '${name}')`;
    const expr =
      kind === 'numeric' ? `${text}::numeric` : kind === 'boolean' ? `${text}::boolean` : kind === 'time' ? `${text}::timestamptz` : text;
    select.push(`${expr} AS ${quoteIdent(name)}`);
    columns.set(name, kind === 'other' ? 'text' : kind);
  }
  const params: unknown[] = [ref.source];
  let where = 'r.source = $1';
  if (ref.fromSeq !== undefined) {
    params.push(ref.fromSeq);
    where += ` AND r.seq >= $${params.length}::bigint`;
  }
  if (ref.toSeq !== undefined) {
    params.push(ref.toSeq);
    where += ` AND r.seq <= $${params.length}::bigint`;
  }
  return {
    sql: `(SELECT ${select.join(', ')} FROM sluice.raw_events r WHERE ${where})`,
    position: 'bigint',
    params,
    columns,
    describe: `log ${ref.source} seq ${ref.fromSeq ?? 'start'}..${ref.toSeq ?? 'end'}`,
  };
}

/** Shifts `$n` placeholders of a SQL fragment by `offset` (to combine fragments with their own parameters). */
export function shiftParams(sql: string, offset: number): string {
  return offset === 0 ? sql : sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
}
