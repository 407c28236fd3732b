/**
 * `sluice models list`, `sluice datasets list`, `sluice lineage <model>@<version|alias>` (and the
 * reverse: `--dataset <id>`, `--contract <name>@<version>`, `--source <s> --from <seq> --to <seq>`):
 * the registry from the command line, read from PostgreSQL (DATABASE_URL). Every command takes
 * `--json`. Exit codes: 0 found, 1 not found (an unknown model or version), 2 usage or setup error.
 */
import type { Pool } from 'pg';
import { listDatasets, listModels, modelLineage, modelsUsing } from '../activities/registry';
import type { ModelsUsingQuery } from '../api/models';
import { createPool } from '../db/pool';
import type { CliIo } from './contracts';
import { flag } from './cliArgs';

class UsageError extends Error {}

async function withPool<T>(io: CliIo, fn: (pool: Pool) => Promise<T>): Promise<T> {
  const url = io.env.DATABASE_URL;
  if (!url) throw new UsageError('DATABASE_URL is not set: the registry is in the PostgreSQL that holds the sluice log');
  const pool = createPool(url, { max: 1, applicationName: 'sluice-cli' });
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

const short = (sha: string): string => sha.slice(0, 12);

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return `${rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

export async function modelsCommand(args: string[], io: CliIo): Promise<number> {
  if (args[0] !== 'list') return usage(io);
  const models = await withPool(io, (pool) => listModels(pool, flag(args, '--name')));
  if (args.includes('--json')) io.out(`${JSON.stringify(models, null, 2)}\n`);
  else if (models.length === 0) io.out('no registered models\n');
  else {
    io.out(
      table([
        ['MODEL', 'TASK', 'TRAINER', 'METRIC', 'DATASET', 'ALIASES', 'CREATED'],
        ...models.map((m) => [
          `${m.name}@${m.version}`,
          m.task ?? '-',
          m.trainer,
          m.metric ? `${m.metric.name} ${m.metric.value.toFixed(4)}` : '-',
          short(m.datasetId),
          m.aliases.join(',') || '-',
          m.createdAt,
        ]),
      ]),
    );
  }
  return 0;
}

export async function datasetsCommand(args: string[], io: CliIo): Promise<number> {
  if (args[0] !== 'list') return usage(io);
  const datasets = await withPool(io, (pool) => listDatasets(pool));
  if (args.includes('--json')) io.out(`${JSON.stringify(datasets, null, 2)}\n`);
  else if (datasets.length === 0) io.out('no dataset snapshots\n');
  else {
    io.out(
      table([
        ['DATASET', 'TRANSFORM', 'ROWS', 'MODELS', 'CREATED'],
        ...datasets.map((d) => [
          short(d.id),
          d.transform ? `${d.transform} v${d.transformVersion ?? '?'}` : '-',
          String(d.rowCount),
          String(d.models),
          d.createdAt,
        ]),
      ]),
    );
  }
  return 0;
}

function reverseQuery(args: string[]): ModelsUsingQuery | undefined {
  const dataset = flag(args, '--dataset');
  if (dataset) return { kind: 'dataset', datasetId: dataset };
  const contract = flag(args, '--contract');
  if (contract) {
    const m = /^([a-z][a-z0-9_]*)@(\d+\.\d+\.\d+)$/.exec(contract);
    if (!m) throw new UsageError(`--contract takes name@version, got "${contract}"`);
    return { kind: 'contract', contract: m[1] ?? '', version: m[2] ?? '' };
  }
  const source = flag(args, '--source');
  if (source) return { kind: 'logRange', source, fromSeq: flag(args, '--from') ?? '1', toSeq: flag(args, '--to') ?? '9223372036854775807' };
  return undefined;
}

export async function lineageCommand(args: string[], io: CliIo): Promise<number> {
  const asJson = args.includes('--json');
  const reverse = reverseQuery(args);
  if (reverse) {
    const models = await withPool(io, (pool) => modelsUsing(pool, reverse));
    if (asJson) io.out(`${JSON.stringify(models, null, 2)}\n`);
    else
      io.out(
        models.length
          ? models.map((m) => `${m.name}@${m.version}  dataset ${short(m.datasetId)}  ${m.createdAt}\n`).join('')
          : 'no model used it\n',
      );
    return 0;
  }
  const ref = args.find((a) => !a.startsWith('--'));
  if (!ref) return usage(io);
  let lineage;
  try {
    lineage = await withPool(io, (pool) => modelLineage(pool, ref));
  } catch (err) {
    const code = (err as { code?: string }).code ?? (err as { type?: string }).type;
    if (code === 'SLUICE_UNKNOWN_MODEL' || /unknown model|not registered/i.test((err as Error).message)) {
      io.err(`sluice: ${(err as Error).message}\n`);
      return 1;
    }
    throw err;
  }
  if (asJson) {
    io.out(`${JSON.stringify(lineage, null, 2)}\n`);
    return 0;
  }
  const l = lineage;
  const lines = [
    `model      ${l.name}@${l.version} (${l.task ?? 'task unknown'})${l.aliases.length ? `, aliases ${l.aliases.join(', ')}` : ''}`,
    `onnx       ${l.onnx.sha256}  ${l.onnx.uri}`,
    `card       ${l.card ? `${l.card.sha256}  ${l.card.uri}` : '-'}`,
    `code       ${l.code.version}${l.code.dirty ? ' (dirty tree)' : ''}`,
    `trainer    ${l.trainer.kind} ${JSON.stringify(l.trainer.parameters)} seed ${l.trainer.seed ?? '-'}`,
    `dataset    ${l.dataset.id} (${l.dataset.rowCount} rows)`,
    `transform  ${l.transform ? `${l.transform.name} v${l.transform.version}${l.transform.builds[0] ? `, build sha256 ${l.transform.builds[0].sha256}` : ''}` : '-'}`,
    `log range  ${
      Object.entries(l.dataset.logRange)
        .map(([s, r]) => `${s} [${r.fromSeq ?? '?'}, ${r.toSeq ?? '?'}]`)
        .join('; ') || '-'
    }`,
    `contracts  ${l.dataset.contracts.map((c) => `${c.name}@${c.versions.join('/')}`).join(', ') || '-'}`,
    `produced   workflow ${l.producedBy.workflowId} run ${l.producedBy.runId}`,
  ];
  io.out(`${lines.join('\n')}\n`);
  return 0;
}

function usage(io: CliIo): number {
  io.err(MODEL_USAGE);
  return 2;
}

export const MODEL_USAGE = `  models list [--name N] [--json]                  registered model versions, their metric and aliases
  datasets list [--json]                           dataset snapshots and how many models used each
  lineage <model>@<version|alias> [--json]         what a model was built from (dataset, log range, contracts, code, run)
  lineage --dataset <id> | --contract <c>@<v> | --source <s> [--from N] [--to N] [--json]
                                                   which models used it
`;

export { UsageError as ModelsUsageError };
