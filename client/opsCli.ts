/**
 * The operational commands of `sluice`, each through Temporal (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * SLUICE_TASK_QUEUE_CPU) with the typed client:
 *
 *   up                                   the local stack: Temporal (with its UI), PostgreSQL, both workers, until Ctrl-C
 *   ingest <source> <file> [--format F]  a file by reference (the workers read it: it must be under SLUICE_INGEST_ROOTS)
 *   backfill <transform> <version> [--from S] [--to S] [--switch]
 *   approve|reject <endpoint> --reason R [--who W]
 *
 * Long work shows a progress line on a terminal (off when stderr is not a TTY or with --json);
 * read commands take --json. Exit codes: 0 done, 1 refused or failed (the reason on stderr), 2 usage.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { IngestBatchResult } from '../api/workflows/ingest';
import { ingestWorkflowId } from '../api/ids';
import type { CliIo } from './contracts';
import { DeployRefusedError } from './deploy';
import { flag, withClient } from './cliArgs';

export const OPS_USAGE = `  up                                              local Temporal (with UI), PostgreSQL and both workers, until Ctrl-C
  ingest <source> <file> [--format ndjson|csv|arrow] [--batch-id ID] [--json]
                                                  ingest a file by reference (under SLUICE_INGEST_ROOTS); progress on a terminal
  backfill <transform> <version> [--from SEQ] [--to SEQ] [--switch] [--json]
                                                  rebuild a transform version from the log; progress on a terminal
  approve|reject <endpoint> --reason R [--who W] [--json]
                                                  decide the endpoint's deployment awaiting approval (who: --who or $USER)
`;

export class OpsUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpsUsageError';
  }
}

function positional(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a.startsWith('--')) {
      if (!['--json', '--switch'].includes(a)) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/** A progress line redrawn in place on a terminal; nothing otherwise. */
export function progressLine(isTty: boolean, write: (t: string) => void): { update(text: string): void; done(): void } {
  let shown = false;
  return {
    update(text: string) {
      if (!isTty) return;
      write(`\r\x1b[2K${text}`);
      shown = true;
    },
    done() {
      if (shown) write('\r\x1b[2K');
    },
  };
}

/** `[#####-----] 50%` for a fraction in [0, 1]. */
export function bar(fraction: number, width = 24): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'-'.repeat(width - n)}] ${Math.round(f * 100)}%`;
}

/** Polls `probe` every `everyMs` until `work` settles, and returns what `work` gave. */
async function whileRunning<T>(work: Promise<T>, probe: () => Promise<void>, everyMs = 500): Promise<T> {
  let settled = false;
  const done = work.finally(() => {
    settled = true;
  });
  while (!settled) {
    await Promise.race([done.catch(() => undefined), new Promise((r) => setTimeout(r, everyMs))]);
    if (!settled) await probe().catch(() => undefined);
  }
  return done;
}

const FORMATS = ['ndjson', 'csv', 'arrow'] as const;

function formatOf(file: string, given: string | undefined): (typeof FORMATS)[number] {
  if (given !== undefined) {
    if (!(FORMATS as readonly string[]).includes(given))
      throw new OpsUsageError(`--format must be one of ${FORMATS.join(', ')}, not ${given}`);
    return given as (typeof FORMATS)[number];
  }
  if (/\.csv$/i.test(file)) return 'csv';
  if (/\.(arrow|arrows|ipc)$/i.test(file)) return 'arrow';
  return 'ndjson';
}

/** What a failed workflow said, in one line, with its code. */
function failureLine(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && (e as { cause?: unknown }).cause instanceof Error && !(e as { type?: string }).type)
    e = (e as { cause?: unknown }).cause;
  const type = (e as { type?: string }).type;
  return `${(e as Error).message}${type ? ` [${type}]` : ''}`;
}

async function ingestCommand(args: string[], io: CliIo, isTty: boolean): Promise<number> {
  const [source, file] = positional(args);
  if (!source || !file) throw new OpsUsageError('ingest takes a source and a file');
  const json = args.includes('--json');
  const absolute = path.resolve(file);
  if (!fs.existsSync(absolute)) {
    io.err(`sluice ingest: ${absolute} does not exist\n`);
    return 1;
  }
  const size = fs.statSync(absolute).size;
  const format = formatOf(absolute, flag(args, '--format'));
  const batchId = flag(args, '--batch-id');
  return withClient(io, async (client) => {
    const progress = progressLine(isTty && !json, io.err);
    try {
      const result: IngestBatchResult = await whileRunning(
        client.ingestFile(source, { kind: 'file', path: absolute }, { format, ...(batchId ? { batchId } : {}) }),
        async () => {
          // the ingest activity heartbeats after each committed chunk: records so far, of a file of `size` bytes
          const p = await client.activityProgress<{ chunk?: number; records?: number }>(ingestWorkflowId(source));
          if (p?.records !== undefined)
            progress.update(`ingest ${source} (${(size / 1e6).toFixed(1)} MB): chunk ${p.chunk ?? 0}, ${p.records} records`);
        },
      );
      progress.done();
      if (json) io.out(`${JSON.stringify(result, null, 2)}\n`);
      else
        io.out(
          `${source}: ${result.received} received = ${result.accepted} accepted + ${result.quarantined} quarantined + ${result.duplicates} duplicates` +
            `${result.toSeq ? ` (log ${result.fromSeq}..${result.toSeq})` : ''}\n`,
        );
      return 0;
    } catch (err) {
      progress.done();
      io.err(`sluice ingest: ${failureLine(err)}\n`);
      return 1;
    }
  });
}

async function backfillCommand(args: string[], io: CliIo, isTty: boolean): Promise<number> {
  const [transform, versionText] = positional(args);
  const version = Number(versionText);
  if (!transform || !Number.isInteger(version) || version < 1)
    throw new OpsUsageError('backfill takes a transform and a version (an integer ≥ 1)');
  const json = args.includes('--json');
  const fromSeq = flag(args, '--from');
  const toSeq = flag(args, '--to');
  return withClient(io, async (client) => {
    const handle = await client.backfill({
      transform,
      version,
      ...(fromSeq ? { fromSeq } : {}),
      ...(toSeq ? { toSeq } : {}),
      ...(args.includes('--switch') ? { switchView: true } : {}),
    });
    const progress = progressLine(isTty && !json, io.err);
    try {
      const result = await whileRunning(handle.result(), async () => {
        const p = await client.backfillProgress(handle.workflowId);
        const total = Number(p.rangesTotal ?? 0);
        const done = Number(p.rangesDone ?? 0);
        progress.update(`backfill ${transform} v${version} ${p.phase ?? ''} ${bar(total > 0 ? done / total : 0)} ${done}/${total} ranges`);
      });
      progress.done();
      if (json) io.out(`${JSON.stringify({ workflowId: handle.workflowId, ...result }, null, 2)}\n`);
      else io.out(`backfill ${transform} v${version}: done (workflow ${handle.workflowId})\n${JSON.stringify(result)}\n`);
      return 0;
    } catch (err) {
      progress.done();
      io.err(`sluice backfill: ${failureLine(err instanceof WorkflowFailedError ? (err.cause ?? err) : err)}\n`);
      return 1;
    }
  });
}

async function decideCommand(decision: 'approve' | 'reject', args: string[], io: CliIo): Promise<number> {
  const [endpoint] = positional(args);
  const who = flag(args, '--who') ?? io.env.USER ?? '';
  const reason = flag(args, '--reason') ?? '';
  if (!endpoint || !who.trim() || !reason.trim()) throw new OpsUsageError(`${decision} takes an endpoint, --reason and --who (or $USER)`);
  return withClient(io, async (client) => {
    try {
      const d = decision === 'approve' ? await client.approve(endpoint, { who, reason }) : await client.reject(endpoint, { who, reason });
      if (args.includes('--json')) io.out(`${JSON.stringify(d, null, 2)}\n`);
      else io.out(`${endpoint}: ${d.decision} by ${d.who}: ${d.reason}\n`);
      return 0;
    } catch (err) {
      if (err instanceof DeployRefusedError) {
        io.err(`sluice ${decision}: ${err.message} [${err.type}]\n`);
        return 1;
      }
      throw err;
    }
  });
}

/** `sluice up`: the dev stack script (scripts/dev), run as its own process so that the client floor does not import it. */
async function upCommand(io: CliIo): Promise<number> {
  const compiled = path.join(__dirname, '..', 'scripts', 'dev.js');
  const source = path.join(__dirname, '..', 'scripts', 'dev.ts');
  const script = fs.existsSync(compiled) ? compiled : source;
  if (!fs.existsSync(script)) {
    io.err(`sluice up: ${compiled} is missing from this installation\n`);
    return 2;
  }
  // The same Node flags (e.g. tsx's loader when run from the sources).
  const child = spawn(process.execPath, [...process.execArgv, script], { stdio: 'inherit', env: io.env as NodeJS.ProcessEnv });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    return await new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

/** Runs `command` when it is one of the operational commands; undefined when it is not. */
export async function opsCommand(command: string | undefined, args: string[], io: CliIo, isTty: boolean): Promise<number | undefined> {
  switch (command) {
    case 'up':
      return upCommand(io);
    case 'ingest':
      return ingestCommand(args, io, isTty);
    case 'backfill':
      return backfillCommand(args, io, isTty);
    case 'approve':
    case 'reject':
      return decideCommand(command, args, io);
    default:
      return undefined;
  }
}
