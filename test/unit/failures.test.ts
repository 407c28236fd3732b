// The one place where domain errors become typed failures: each kind keeps its code in every step.
import { ApplicationFailure } from '@temporalio/common';
import { ArtifactNotFoundError } from '../../activities/artifacts';
import { SluiceError, toFailure } from '../../activities/failures';
import { DatasetError } from '../../activities/validate/dataset';
import { ContractFileError, UnknownContractError } from '../../contracts/registry';
import { UserSqlRoleError } from '../../db/roles';
import { InvalidIdentifierError } from '../../db/sql';

describe('toFailure', () => {
  it.each([
    ['an unknown contract (ingest and validate alike)', new UnknownContractError('orders', '9.9.9', ['orders']), 'SLUICE_UNKNOWN_CONTRACT'],
    [
      'a broken contract file',
      new ContractFileError([{ file: 'x.json', path: '/', code: 'schema', message: 'bad' }]),
      'SLUICE_CONTRACT_INVALID',
    ],
    ['an identifier outside the allow-list', new InvalidIdentifierError('a"b'), 'SLUICE_INVALID_INPUT'],
    ['user SQL that changed its role', new UserSqlRoleError('sluice_worker'), 'SLUICE_INVALID_INPUT'],
    ['a missing artifact', new ArtifactNotFoundError('a'.repeat(64)), 'SLUICE_DATASET_NOT_FOUND'],
    ['a missing dataset', new DatasetError('Table public.nope does not exist'), 'SLUICE_DATASET_NOT_FOUND'],
    ['a coded domain error', new SluiceError('SLUICE_UNKNOWN_SOURCE', 'Unknown source "x"'), 'SLUICE_UNKNOWN_SOURCE'],
  ])('%s is a non-retryable %s with the message kept', (_what, err, code) => {
    const failure = toFailure(err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: code, nonRetryable: true, message: err.message });
  });

  it("keeps the error's own data as the failure's details (what the caller needs to fix the input)", () => {
    expect(toFailure(new UnknownContractError('orders', '9.9.9', ['orders']))).toMatchObject({
      details: [{ contract: 'orders', version: '9.9.9' }],
    });
  });

  it('a retryable coded error stays retryable; an unknown error passes through unchanged (Temporal retries it)', () => {
    expect(toFailure(new SluiceError('SLUICE_INGEST_FAILED', 'x', { retryable: true }))).toMatchObject({ nonRetryable: false });
    const plain = new Error('connection reset');
    expect(toFailure(plain)).toBe(plain);
  });

  // Every kind of error an ingest activity meets, and whether retrying can help.
  const fsError = (code: string, syscall = 'read', path = '/data/batch.ndjson'): NodeJS.ErrnoException =>
    Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path, errno: -1 });
  it.each([
    ['a directory (EISDIR)', fsError('EISDIR'), 'SLUICE_INGEST_FILE_UNREADABLE', true],
    ['a missing file (ENOENT)', fsError('ENOENT', 'open'), 'SLUICE_INGEST_FILE_UNREADABLE', true],
    ['an unreadable file (EACCES)', fsError('EACCES', 'open'), 'SLUICE_INGEST_FILE_UNREADABLE', true],
    ['a symlink loop (ELOOP)', fsError('ELOOP', 'open'), 'SLUICE_INGEST_FILE_UNREADABLE', true],
    ['a path through a file (ENOTDIR)', fsError('ENOTDIR', 'open'), 'SLUICE_INGEST_FILE_UNREADABLE', true],
    [
      'a refused location',
      new SluiceError('SLUICE_INVALID_INPUT', 'Refused file location (rule under-root)'),
      'SLUICE_INVALID_INPUT',
      true,
    ],
    ['too many open files (EMFILE)', fsError('EMFILE', 'open'), undefined, false],
    ['a full disk (ENOSPC)', fsError('ENOSPC', 'write'), undefined, false],
    ['an I/O error (EIO)', fsError('EIO'), undefined, false],
    ['a dropped database connection', Object.assign(new Error('Connection terminated unexpectedly'), {}), undefined, false],
    [
      'a server shutting down (57P01)',
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      undefined,
      false,
    ],
  ])('%s → %s, permanent: %s', (_what, err, code, permanent) => {
    const failure = toFailure(err) as { type?: string; nonRetryable?: boolean };
    if (permanent) expect(failure).toMatchObject({ type: code, nonRetryable: true });
    else expect(failure).toBe(err);
  });
});
