/**
 * The activities of a pipeline whose spec says `execution: inline` (workflows/pipelineInline.ts):
 * the validate and snapshot steps' work and the train step's registration, run in the pipeline's
 * own history. Each is the stand-alone step's activity, unchanged, that also answers the browser
 * links of what it produced, so that an inline step is one server round trip (the child-workflow
 * path asks for its links with a local activity of their own).
 */
import type { HttpIngestConfig } from '../../config';
import type { createRegistryActivities } from '../registry';
import type { createSnapshotActivities } from '../snapshot';
import type { createValidateActivities } from '../validate';
import { artifactLinks } from './links';

type ValidateActivities = ReturnType<typeof createValidateActivities>;
type SnapshotActivities = ReturnType<typeof createSnapshotActivities>;
type RegistryActivities = ReturnType<typeof createRegistryActivities>;

export interface InlineStepDeps {
  validate: Pick<ValidateActivities, 'runExpectationSuite'>;
  snapshot: Pick<SnapshotActivities, 'snapshotDataset'>;
  registry: Pick<RegistryActivities, 'registerModel'>;
  http: Pick<HttpIngestConfig, 'host' | 'port' | 'publicUrl' | 'token'>;
}

export function createInlineStepActivities(deps: InlineStepDeps) {
  const links = (sha256s: Record<string, string>): Record<string, string> => artifactLinks(deps.http, sha256s);
  return {
    /** runExpectationSuite, and the links of its data docs (HTML) and report (JSON). */
    async pipelineValidate(input: Parameters<ValidateActivities['runExpectationSuite']>[0]) {
      const r = await deps.validate.runExpectationSuite(input);
      return { ...r, links: links({ dataDocs: r.htmlSha256, report: r.reportSha256 }) };
    },

    /** snapshotDataset, and the link of the dataset's Arrow file. */
    async pipelineSnapshot(input: Parameters<SnapshotActivities['snapshotDataset']>[0]) {
      const r = await deps.snapshot.snapshotDataset(input);
      return { ...r, links: links({ dataset: r.datasetId }) };
    },

    /** registerModel, and the links of the model card and the ONNX file. */
    async pipelineRegisterModel(input: Parameters<RegistryActivities['registerModel']>[0]) {
      const r = await deps.registry.registerModel(input);
      return { ...r, links: links({ ...(input.card ? { modelCard: input.card.sha256 } : {}), onnx: input.onnxSha256 }) };
    },
  };
}

export type InlineStepActivities = ReturnType<typeof createInlineStepActivities>;
