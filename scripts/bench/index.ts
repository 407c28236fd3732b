/** `npm run bench -- <suite...> [--scale 0.1]`; with no suite, lists them. */
import { loadConfig } from '../../config';
import { provisionLocalStack, withStackEndpoint } from '../provision';
import { GOALS } from './goals';
import { formatTable, runInfo, writeResult, type BenchSuite } from './harness';
import { SUITES } from './suites';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const scaleAt = args.indexOf('--scale');
  const scale = scaleAt >= 0 ? Number(args[scaleAt + 1]) : 1;
  if (!(scale > 0)) throw new Error(`--scale must be a positive number, got ${args[scaleAt + 1]}`);
  const names = args.filter((a, i) => !a.startsWith('--') && !(scaleAt >= 0 && i === scaleAt + 1));
  if (names.length === 0) {
    process.stdout.write(
      `suites:\n${SUITES.map((s) => `  ${s.name.padEnd(12)} ${s.description}`).join('\n')}\nusage: npm run bench -- <suite> [--scale 0.1]\n`,
    );
    return;
  }
  const chosen: BenchSuite[] = names.map((n) => {
    const s = SUITES.find((x) => x.name === n);
    if (!s) throw new Error(`unknown bench suite "${n}"; known: ${SUITES.map((x) => x.name).join(', ')}`);
    return s;
  });
  const config = loadConfig();
  const log = (m: string): void => {
    process.stderr.write(`[bench] ${m}\n`);
  };
  const stack = await provisionLocalStack(config, { log });
  try {
    for (const suite of chosen) {
      log(`suite ${suite.name} (scale ${scale})`);
      const r = await suite.run({ config: withStackEndpoint(config, stack), stack, scale, log });
      const result = { suite: suite.name, ...r, goals: { ...GOALS[suite.name], ...r.goals }, run: runInfo(scale) };
      process.stdout.write(`${formatTable(result)}\n`);
      log(`wrote ${writeResult(result)}`);
    }
  } finally {
    await stack.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
