// The lint rule that keeps I/O and non-determinism out of workflows/ must really fire.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');

function lintAs(filePath: string, code: string): { messages: { ruleId: string; message: string }[] } {
  const r = spawnSync(path.join(root, 'node_modules/.bin/eslint'), ['--format', 'json', '--stdin', '--stdin-filename', filePath], {
    cwd: root,
    input: code,
    encoding: 'utf8',
  });
  const out = JSON.parse(r.stdout) as { messages: { ruleId: string; message: string }[] }[];
  return out[0]!;
}

describe('workflow sandbox lint rules', () => {
  it.each([
    ["import { Pool } from 'pg';\nexport const p = Pool;\n", 'no-restricted-imports'],
    ["import * as fs from 'node:fs';\nexport const f = fs;\n", 'no-restricted-imports'],
    ["import { tableFromIPC } from 'apache-arrow';\nexport const t = tableFromIPC;\n", 'no-restricted-imports'],
    ["import * as ort from 'onnxruntime-node';\nexport const o = ort;\n", 'no-restricted-imports'],
    ["import { createCpuActivities } from '../activities';\nexport const a = createCpuActivities;\n", 'no-restricted-imports'],
    ['export const now = (): number => Date.now();\n', 'no-restricted-syntax'],
    ['export const r = (): number => Math.random();\n', 'no-restricted-syntax'],
  ])('refuses %j in workflows/', (code, rule) => {
    const { messages } = lintAs('workflows/planted.ts', code);
    expect(messages.map((m) => m.ruleId)).toContain(rule);
  });

  it('allows type-only imports of activities and the same code outside workflows/', () => {
    expect(
      lintAs('workflows/planted.ts', "import type { CpuActivities } from '../activities';\nexport type A = CpuActivities;\n").messages,
    ).toEqual([]);
    expect(lintAs('activities/planted.ts', "import { Pool } from 'pg';\nexport const p = Pool;\n").messages).toEqual([]);
  });
});

describe('layer and cycle lint rules (docs/architecture.md, "Layers")', () => {
  it.each([
    ['db/planted.ts', "import { createCpuActivities } from '../activities';\nexport const a = createCpuActivities;\n", 'sluice/layers'],
    ['activities/planted.ts', "import { ingest } from '../workflows/ingest';\nexport const i = ingest;\n", 'sluice/layers'],
    ['activities/planted.ts', "import type { SluiceClient } from '../client';\nexport type C = SluiceClient;\n", 'sluice/layers'],
    ['api/planted.ts', "import { loadConfig } from '../config';\nexport const c = loadConfig;\n", 'sluice/layers'],
    ['config/planted.ts', "import { createPool } from '../db/pool';\nexport const p = createPool;\n", 'sluice/layers'],
    ['workflows/planted.ts', "import { loadConfig } from '../config';\nexport const c = loadConfig;\n", 'sluice/layers'],
    ['client/planted.ts', "import { createWorkerSet } from '../workers/bootstrap';\nexport const w = createWorkerSet;\n", 'sluice/layers'],
    ['api/planted.ts', "import * as fs from 'node:fs';\nexport const f = fs;\n", 'no-restricted-imports'],
    // A cycle through real files: runEvents.ts imports failures.ts, so failures.ts may not import it back.
    [
      'activities/failures.ts',
      "import { recordRunEvents } from './runEvents';\nexport const r = recordRunEvents;\n",
      'sluice/no-import-cycle',
    ],
    [
      'activities/failures.ts',
      "import type { RunEventInput } from './runEvents';\nexport type R = RunEventInput;\n",
      'sluice/no-import-cycle',
    ],
  ])('refuses in %s: %j', (file, code, rule) => {
    const { messages } = lintAs(file, code);
    expect(messages.map((m) => m.ruleId)).toContain(rule);
  });

  it('allows imports down the floors, and types from below in workflows/', () => {
    expect(lintAs('activities/planted.ts', "import { ErrorCodes } from '../api/errors';\nexport const e = ErrorCodes;\n").messages).toEqual(
      [],
    );
    expect(
      lintAs('workflows/planted.ts', "import type { SluiceConfig } from '../config';\nexport type C = SluiceConfig;\n").messages,
    ).toEqual([]);
    expect(lintAs('workflows/planted.ts', "import { ErrorCodes } from '../api/errors';\nexport const e = ErrorCodes;\n").messages).toEqual(
      [],
    );
    expect(lintAs('scripts/planted.ts', "import { SluiceClient } from '../client';\nexport const c = SluiceClient;\n").messages).toEqual(
      [],
    );
  });
});

describe('SQL text lint rule (sluice/sql-values-bound): values bound, identifiers through quoteIdent', () => {
  const RULE = 'sluice/sql-values-bound';
  const head = "import type { Pool } from 'pg';\nimport { quoteIdent } from '../db/sql';\ndeclare const pool: Pool;\n";
  const fired = (code: string, file = 'activities/planted.ts') => lintAs(file, `${head}${code}`).messages.filter((m) => m.ruleId === RULE);

  it.each([
    [
      'an interpolated variable',
      "export async function f(id: string) {\n  await pool.query(`SELECT * FROM t WHERE id = '${id}'`);\n}\n",
      'id',
    ],
    [
      'a concatenated variable',
      "export async function f(id: string) {\n  await pool.query('SELECT * FROM t WHERE id = ' + id);\n}\n",
      'id',
    ],
    [
      'a variable in a const built before the call',
      'export async function f(table: string) {\n  const sql = `SELECT * FROM ${table}`;\n  await pool.query(sql);\n}\n',
      'table',
    ],
    [
      'a value in the text of a config object',
      'export async function f(n: number) {\n  await pool.query({ text: `SELECT ${n}` });\n}\n',
      'n',
    ],
    [
      'a setting built away from any call',
      "export function set(name: string, value: string): string {\n  return `SET LOCAL ${name} = '${value}'`;\n}\n",
      'name',
    ],
    [
      'a pg-copy-streams COPY',
      "import { to as copyTo } from 'pg-copy-streams';\nexport const c = (t: string) => pool.query(copyTo('COPY ' + t + ' TO STDOUT'));\n",
      't',
    ],
    [
      'a let whose text may change',
      "let table = 'a';\nexport const f = () => pool.query(`SELECT * FROM ${table}`);\ntable = 'b';\n",
      'table',
    ],
  ])('fires on %s, naming it', (_, code, expr) => {
    const messages = fired(code);
    expect(messages).not.toHaveLength(0);
    expect(messages[0]?.message).toContain(`\`${expr}\``);
    expect(messages[0]?.message).toMatch(/bind it as a \$n parameter .* quoteIdent\(\)/);
  });

  it('fires in an identifier helper that returns a value unquoted', () => {
    const code =
      'export function derivedTable(name: string, version: number): string {\n  return `sluice_derived.${name}__v${version}`;\n}\n';
    expect(fired(code, 'activities/transform/planted.ts').map((m) => m.message)).toEqual([
      expect.stringContaining('derivedTable is an identifierHelper'),
      expect.stringContaining('derivedTable is an identifierHelper'),
    ]);
  });

  it('stays quiet on bound values, quoteIdent, constants of code, $n placeholders and checked helpers', () => {
    const code = [
      "const TABLE = 'sluice.raw_events';",
      'const LIMIT = 100;',
      'const COLUMNS = `seq, ${"source"}, event_id`;',
      'export async function f(source: string, column: string, rows: string[], mode: boolean) {',
      '  await pool.query(`SELECT ${COLUMNS} FROM ${TABLE} WHERE source = $1 LIMIT ${LIMIT}`, [source]);',
      '  const col = quoteIdent(column);',
      '  await pool.query(`SELECT ${quoteIdent(column)}, ${col} FROM ' + "t` + (mode ? ' FOR UPDATE' : ''), []);",
      '  await pool.query(`SELECT $${rows.length + 1}::int`, [...rows, 1]);',
      '  await pool.query(`SELECT * FROM ${derivedTable(source, 1)}`);',
      '}',
      'export function derivedTable(name: string, version: number): string {',
      "  return `${quoteIdent('sluice_derived')}.${quoteIdent(`${name}__v${version}`)}`;",
      '}',
      '',
    ].join('\n');
    expect(fired(code, 'activities/transform/planted.ts')).toEqual([]);
  });
});
