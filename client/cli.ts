#!/usr/bin/env node
/** The `sluice` command line: `npm run sluice -- contracts diff a b`. */
import { contractsCommand, type CliIo } from './contracts';

const USAGE = `usage: sluice <command> ...
  contracts diff <old> <new> [--json] [--dir D]   classify changes; exit 1 on a breaking change without a major bump
  contracts check [dir] [--json]                  every contract version vs its predecessor
`;

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'contracts') return contractsCommand(rest, io);
  io.err(USAGE);
  return 2;
}

if (require.main === module) {
  const io: CliIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), env: process.env };
  runCli(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (err: Error) => {
      process.stderr.write(`sluice: ${err.stack ?? err.message}\n`);
      process.exitCode = 1;
    },
  );
}
