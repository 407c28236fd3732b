#!/usr/bin/env node
/** The `sluice` command line: `npm run sluice -- contracts diff a b`. */
import { contractsCommand, type CliIo } from './contracts';
import { ROLLBACK_USAGE, rollbackCommand } from './deployCli';
import { SCHEDULES_USAGE, schedulesCommand, SchedulesUsageError } from './schedulesCli';
import { datasetsCommand, lineageCommand, MODEL_USAGE, modelsCommand, ModelsUsageError } from './models';
import { OPS_USAGE, opsCommand, OpsUsageError } from './opsCli';
import { PIPELINES_USAGE, pipelinesCommand, PipelinesUsageError } from './pipelines';

const USAGE = `usage: sluice <command> ...
  contracts diff <old> <new> [--json] [--dir D]   classify changes; exit 1 on a breaking change without a major bump
  contracts check [dir] [--json]                  every contract version vs its predecessor
${OPS_USAGE}${MODEL_USAGE}${ROLLBACK_USAGE}${PIPELINES_USAGE}${SCHEDULES_USAGE}exit codes: 0 fine, 1 a check failed, a spec is invalid, a rerun or rollback is refused, or a model, pipeline or schedule is not found, 2 usage or setup error (DATABASE_URL for the registry commands)
`;

export async function runCli(argv: string[], io: CliIo, isTty = false): Promise<number> {
  const [command, ...rest] = argv;
  try {
    const ops = await opsCommand(command, rest, io, isTty);
    if (ops !== undefined) return ops;
    if (command === 'contracts') return await contractsCommand(rest, io);
    if (command === 'models') return await modelsCommand(rest, io);
    if (command === 'datasets') return await datasetsCommand(rest, io);
    if (command === 'lineage') return await lineageCommand(rest, io);
    if (command === 'rollback') return await rollbackCommand(rest, io);
    if (command === 'pipelines') return await pipelinesCommand(rest, io, isTty);
    if (command === 'schedules') return await schedulesCommand(rest, io);
  } catch (err) {
    if ((err as { code?: string }).code === 'SLUICE_UNKNOWN_PIPELINE') {
      io.err(`sluice: ${(err as Error).message}\n`);
      return 1;
    }
    if (
      !(err instanceof ModelsUsageError) &&
      !(err instanceof PipelinesUsageError) &&
      !(err instanceof SchedulesUsageError) &&
      !(err instanceof OpsUsageError)
    )
      throw err;
    io.err(`sluice: ${err.message}\n`);
    return 2;
  }
  io.err(USAGE);
  return 2;
}

if (require.main === module) {
  const io: CliIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), env: process.env };
  runCli(process.argv.slice(2), io, process.stderr.isTTY === true).then(
    (code) => {
      process.exitCode = code;
    },
    (err: Error) => {
      process.stderr.write(`sluice: ${err.stack ?? err.message}\n`);
      process.exitCode = 1;
    },
  );
}
