/**
 * Reading an artifact a step is about to trust (a model it will load, a file it will register):
 * absent is SLUICE_ARTIFACT_NOT_FOUND and bytes that do not hash to the sha256 asked for are
 * SLUICE_ARTIFACT_CORRUPT, both permanent. The local store names files by their hash, but a file
 * can still be damaged or replaced on disk (or by another backend) after it was written.
 */
import { createHash } from 'node:crypto';
import { ErrorCodes } from '../api/errors';
import { ArtifactNotFoundError, type ArtifactStore } from './artifacts';
import { SluiceError } from './failures';

/** The bytes of artifact `sha256`, checked against it; `what` names it in errors ("ONNX model"). */
export async function readVerifiedArtifact(store: ArtifactStore, sha256: string, what: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await store.get(sha256);
  } catch (err) {
    if (err instanceof ArtifactNotFoundError)
      throw new SluiceError(ErrorCodes.ArtifactNotFound, `${what} ${sha256} is not in the artifact store`, { details: { sha256 } });
    throw err;
  }
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) {
    throw new SluiceError(
      ErrorCodes.ArtifactCorrupt,
      `${what} ${sha256} in the artifact store has sha256 ${actual}: the file was changed or damaged; refusing to use it`,
      {
        details: { expected: sha256, actual },
      },
    );
  }
  return bytes;
}
