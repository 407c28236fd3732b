/**
 * The code a worker runs, recorded with every model it registers: the git commit of sluice's own
 * checkout and whether it had uncommitted changes, or SLUICE_CODE_VERSION where the code ships
 * without its .git (container images), or 'unknown'. Read once per process: the code does not
 * change under a running worker.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface CodeVersion {
  version: string;
  /** null when it cannot be known (from the environment, or without git). */
  dirty: boolean | null;
  source: 'env' | 'git' | 'unknown';
}

/** The folder of sluice's package.json above `from`. */
function packageRoot(from: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

function git(args: string[], cwd: string): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
}

export function readCodeVersion(env: Record<string, string | undefined> = process.env, from: string = __dirname): CodeVersion {
  const fromEnv = env.SLUICE_CODE_VERSION?.trim();
  if (fromEnv) return { version: fromEnv, dirty: null, source: 'env' };
  const root = packageRoot(from);
  if (!root) return { version: 'unknown', dirty: null, source: 'unknown' };
  try {
    // Only sluice's own checkout counts: installed as a dependency inside another repository,
    // git would answer with that repository's commit.
    if (path.resolve(git(['rev-parse', '--show-toplevel'], root)) !== path.resolve(root))
      return { version: 'unknown', dirty: null, source: 'unknown' };
    const commit = git(['rev-parse', 'HEAD'], root);
    const dirty = git(['status', '--porcelain'], root) !== '';
    return { version: commit, dirty, source: 'git' };
  } catch {
    // no git binary, or not a repository: recorded as 'unknown', which the model row then says
    return { version: 'unknown', dirty: null, source: 'unknown' };
  }
}

let cached: CodeVersion | undefined;

/** {@link readCodeVersion} of this process, read on first use and kept. */
export function workerCodeVersion(): CodeVersion {
  cached ??= readCodeVersion();
  return cached;
}
