/**
 * The one place where domain errors become Temporal failures with sluice's error codes. Activities
 * throw what they know (UnknownContractError, DatasetError, …); the run-event wrapper every
 * activity goes through passes each error through {@link toFailure}, so the same error has the
 * same code in every step. Anything not listed stays a plain error and is retried.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { ErrorCodes, type ErrorCode } from '../api/errors';
import { UnknownContractError, ContractFileError } from '../contracts/registry';
import { UserSqlRoleError } from '../db/roles';
import { InvalidIdentifierError } from '../db/sql';
import { ArtifactNotFoundError } from './artifacts';
import { DatasetError } from './validate/dataset';
import { DatasetInvalidError } from './snapshot/errors';
import { CheckpointError, TrainingDataError } from './train/errors';

/** A domain error of an activity that already knows its code; permanent unless said otherwise. */
export class SluiceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: {
      retryable?: boolean;
      /** Sent with the failure (workflow history, the UI, the caller). */
      details?: unknown;
      /** Kept inside: recorded in the run event (the database) only, never sent to Temporal. */
      internal?: string;
    } = {},
  ) {
    super(message);
    this.name = 'SluiceError';
  }
}

/** Error classes and the code each stands for (all permanent: retrying cannot help). */
const PERMANENT: [new (...args: never[]) => Error, ErrorCode][] = [
  [UnknownContractError, ErrorCodes.UnknownContract],
  [ContractFileError, ErrorCodes.ContractInvalid],
  [InvalidIdentifierError, ErrorCodes.InvalidInput],
  [UserSqlRoleError, ErrorCodes.InvalidInput],
  [ArtifactNotFoundError, ErrorCodes.DatasetNotFound],
  [DatasetError, ErrorCodes.DatasetNotFound],
  [DatasetInvalidError, ErrorCodes.DatasetInvalid],
  [TrainingDataError, ErrorCodes.InvalidInput],
  [CheckpointError, ErrorCodes.InvalidInput],
];

/**
 * Node's file-system errors that retrying cannot fix: the path is what it is (a directory, missing,
 * not readable, a symlink loop). Before this table, EISDIR was retried for 14 minutes while every
 * later batch of its source waited. Errors of the machine (EMFILE, ENOSPC, EIO, EAGAIN, EBUSY …)
 * and of the network stay retryable.
 */
export const PERMANENT_FS_ERRORS: ReadonlySet<string> = new Set([
  'ENOENT',
  'EISDIR',
  'ENOTDIR',
  'EACCES',
  'EPERM',
  'ELOOP',
  'ENAMETOOLONG',
  'EINVAL',
  'ENXIO',
]);

function fsErrorOf(err: unknown): { code: string; path?: string; syscall?: string } | undefined {
  const e = err as { code?: unknown; syscall?: unknown; path?: unknown; errno?: unknown };
  if (!(err instanceof Error) || typeof e.code !== 'string' || typeof e.syscall !== 'string' || typeof e.errno !== 'number')
    return undefined;
  return { code: e.code, syscall: e.syscall, path: typeof e.path === 'string' ? e.path : undefined };
}

/** The error's own data (an issue code, a column, a row…), kept as the failure's details for callers. */
function ownFields(err: Error): Record<string, unknown> | undefined {
  const fields = Object.fromEntries(Object.entries(err).filter(([k, v]) => k !== 'name' && k !== 'message' && typeof v !== 'function'));
  return Object.keys(fields).length > 0 ? fields : undefined;
}

/** The failure Temporal should see for `err`: a typed, non-retryable one for known domain errors, `err` itself otherwise. */
export function toFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof SluiceError) {
    return ApplicationFailure.create({
      type: err.code,
      message: err.message,
      nonRetryable: !err.options.retryable,
      details: err.options.details === undefined ? undefined : [err.options.details],
      cause: err,
    });
  }
  const fsError = fsErrorOf(err);
  if (fsError && PERMANENT_FS_ERRORS.has(fsError.code)) {
    return ApplicationFailure.create({
      type: ErrorCodes.IngestFileUnreadable,
      message: `Cannot read ${fsError.path ?? 'a file'}: ${fsError.code} (${fsError.syscall}); retrying cannot change that`,
      nonRetryable: true,
      details: [fsError],
      cause: err as Error,
    });
  }
  for (const [cls, code] of PERMANENT) {
    if (err instanceof cls) {
      const fields = ownFields(err as Error);
      return ApplicationFailure.create({
        type: code,
        message: (err as Error).message,
        nonRetryable: true,
        details: fields ? [fields] : undefined,
        cause: err as Error,
      });
    }
  }
  return err;
}
