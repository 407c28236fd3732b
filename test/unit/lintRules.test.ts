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
    expect(lintAs('workflows/planted.ts', "import type { CpuActivities } from '../activities';\nexport type A = CpuActivities;\n").messages).toEqual([]);
    expect(lintAs('activities/planted.ts', "import { Pool } from 'pg';\nexport const p = Pool;\n").messages).toEqual([]);
  });
});
