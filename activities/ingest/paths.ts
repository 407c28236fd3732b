/**
 * Which files a worker may read for a workflow: only regular files under the configured ingest
 * roots (config.ingestRoots, SLUICE_INGEST_ROOTS), after resolving symlinks and `..`. A workflow
 * input comes from whoever may start workflows; without this check a location such as
 * /proc/self/environ would land the worker's environment (its tokens) in the append-only
 * quarantine, where it can never be deleted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCodes } from '../../api/errors';
import { SluiceError } from '../failures';

/** The rule a refused path broke, named in the error. */
export type PathRule = 'absolute' | 'exists' | 'under-root' | 'regular-file' | 'readable';

/**
 * A location outside the rules is refused (SLUICE_INVALID_INPUT); one that is allowed but missing
 * or unreadable is SLUICE_INGEST_FILE_UNREADABLE. Both are permanent.
 */
function refused(rule: PathRule, given: string, message: string): SluiceError {
  const code = rule === 'exists' || rule === 'readable' ? ErrorCodes.IngestFileUnreadable : ErrorCodes.InvalidInput;
  return new SluiceError(code, `Refused file location ${JSON.stringify(given)} (rule ${rule}): ${message}`, {
    details: { rule, path: given },
  });
}

function inside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The real path of `given` when it is a regular, readable file under one of `roots`; otherwise a
 * non-retryable SLUICE_INVALID_INPUT naming the rule (retrying cannot make a path acceptable).
 * Roots are resolved too (a root may itself be a symlink, e.g. /tmp on some systems).
 */
export async function resolveIngestPath(given: string, roots: readonly string[]): Promise<string> {
  if (!path.isAbsolute(given)) throw refused('absolute', given, 'a file location must be an absolute path');
  let real: string;
  try {
    real = await fs.promises.realpath(given);
  } catch (err) {
    throw refused('exists', given, `cannot resolve it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const realRoots: string[] = [];
  for (const root of roots) {
    try {
      realRoots.push(await fs.promises.realpath(root));
    } catch {
      // A root that does not exist holds no file; the others still apply.
    }
  }
  if (!realRoots.some((root) => inside(root, real))) {
    throw refused(
      'under-root',
      given,
      `it is not under an ingest root (${roots.join(', ') || 'none configured'}); set SLUICE_INGEST_ROOTS to allow a directory`,
    );
  }
  const stat = await fs.promises.stat(real);
  if (!stat.isFile()) {
    const kind = stat.isDirectory() ? 'a directory' : stat.isFIFO() ? 'a FIFO' : stat.isSocket() ? 'a socket' : 'a device or special file';
    throw refused('regular-file', given, `it is ${kind}, not a regular file`);
  }
  try {
    await fs.promises.access(real, fs.constants.R_OK);
  } catch (err) {
    throw refused('readable', given, `the worker may not read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return real;
}
