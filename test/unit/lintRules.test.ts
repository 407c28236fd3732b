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
