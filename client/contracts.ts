/**
 * `sluice contracts ...`: the contract commands of the CLI, as functions that return an exit code
 * (so tests run them in-process).
 *   contracts diff <old> <new> [--json] [--dir D]   old/new: a contract file, or name@version from D
 *   contracts check [dir] [--json]                  every version vs its predecessor (the CI check)
 * Exit codes: 0 fine, 1 breaking change without a major bump (or a bad contract), 2 usage error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkContractEvolution, diffContracts, formatDiff } from '../contracts/diff';
import { contractImpact, formatImpact } from '../contracts/impact';
import { ContractFileError, ContractRegistry, CONTRACTS_DIR, parseContractFile, type Contract } from '../contracts/registry';
import { createPool } from '../db/pool';
import { flag } from './cliArgs';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: Record<string, string | undefined>;
}

const DEFAULT_DIR = path.join(CONTRACTS_DIR, 'sources');

function positional(args: string[], withValue: string[]): string[] {
  return args.filter((a, i) => !a.startsWith('--') && !(i > 0 && withValue.includes(args[i - 1] ?? '')));
}

function loadContract(ref: string, dir: string): Contract {
  if (fs.existsSync(ref)) {
    const r = parseContractFile(ref);
    if (!r.ok) throw new ContractFileError(r.issues);
    return r.value;
  }
  const m = /^([a-z][a-z0-9_]*)@(\d+\.\d+\.\d+)$/.exec(ref);
  if (!m) throw new UsageError(`"${ref}" is neither a contract file nor name@version`);
  return ContractRegistry.fromDirectory(dir).get(m[1] ?? '', m[2]);
}

class UsageError extends Error {}

export async function contractsCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  const dir = path.resolve(flag(rest, '--dir') ?? DEFAULT_DIR);
  const asJson = rest.includes('--json');
  try {
    if (sub === 'diff') {
      const [a, b] = positional(rest, ['--dir']);
      if (!a || !b) throw new UsageError('usage: sluice contracts diff <old> <new> [--json] [--dir D]');
      const d = diffContracts(loadContract(a, dir), loadContract(b, dir));
      let impact;
      if (d.breaking && io.env.DATABASE_URL) {
        const pool = createPool(io.env.DATABASE_URL, { max: 1, applicationName: 'sluice-cli' });
        try {
          impact = await contractImpact(pool, d.contract, d.from);
        } finally {
          await pool.end();
        }
      }
      if (asJson) io.out(`${JSON.stringify({ ...d, impact }, null, 2)}\n`);
      else {
        io.out(`${formatDiff(d)}\n`);
        if (impact) io.out(`${formatImpact(impact)}\n`);
        else if (d.breaking)
          io.out(`impact of ${d.contract}@${d.from}: set DATABASE_URL to list the log rows, datasets, models and runs that used it\n`);
      }
      return d.violation ? 1 : 0;
    }
    if (sub === 'check') {
      const [target] = positional(rest, ['--dir']);
      const registry = ContractRegistry.fromDirectory(path.resolve(target ?? dir));
      const diffs = checkContractEvolution(registry.all());
      const violations = diffs.filter((d) => d.violation);
      if (asJson) io.out(`${JSON.stringify({ contracts: registry.names().length, diffs, warnings: registry.warnings }, null, 2)}\n`);
      else {
        for (const d of diffs) io.out(`${formatDiff(d)}\n`);
        for (const w of registry.warnings) io.err(`warning: ${w}\n`);
        io.out(`${registry.all().length} contract version(s), ${diffs.length} evolution step(s), ${violations.length} violation(s)\n`);
      }
      return violations.length ? 1 : 0;
    }
    throw new UsageError('usage: sluice contracts <diff|check> ...');
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\n`);
      return 2;
    }
    if (err instanceof ContractFileError || (err as Error).name === 'UnknownContractError') {
      io.err(`${(err as Error).message}\n`);
      return 1;
    }
    throw err;
  }
}
