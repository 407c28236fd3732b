/**
 * `pipelineTrigger`: the event trigger of one pipeline (workflow id `pipeline-trigger-<name>`).
 * Ingestion signals it `dataLanded` for every batch that lands on a source the pipeline's latest
 * spec subscribes to (`triggers.dataLanded`); it starts a pipeline run once `minRows` rows have
 * landed, or `maxWaitSeconds` after the first of them, whichever comes first.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineWorkflow, returns } from './define';
import { PipelineName } from './pipeline';

const LogOffset = Type.String({ pattern: '^(0|[1-9][0-9]{0,18})$' });

export const PipelineTriggerInputSchema = Type.Object(
  {
    pipeline: PipelineName,
    /** Rows that start a run (default 1: every batch). */
    minRows: Type.Optional(Type.Integer({ minimum: 1 })),
    /** A run starts at the latest this long after the first pending row landed (default: no limit). */
    maxWaitSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 * 86400 })),
    /** Carried over continue-as-new: rows landed and not yet in a run, and the last log offset seen. */
    pending: Type.Optional(
      Type.Object(
        { rows: Type.Integer({ minimum: 0 }), toSeq: LogOffset, sinceMs: Type.Integer({ minimum: 0 }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type PipelineTriggerInput = Static<typeof PipelineTriggerInputSchema>;

/** One batch that landed on a subscribed source, as ingestion signals it. */
export interface PipelineDataLanded {
  source: string;
  fromSeq: string;
  toSeq: string;
  batchId: string;
  /** Rows of the source in [fromSeq, toSeq]. */
  rows: number;
}

/** What the trigger has done, for its query and tests. */
export interface PipelineTriggerState {
  pipeline: string;
  pendingRows: number;
  /** The last log offset signalled; the trigger key of the next run is `landed-<it>`. */
  lastToSeq: string | null;
  /** Workflow ids of the runs this trigger started (this run of the trigger workflow). */
  started: string[];
}

/** The trigger key of a run started by landed data: the last log offset it covers (the same data never starts two runs). */
export function landedTriggerKey(toSeq: string): string {
  return `landed-${toSeq}`;
}

export function pipelineTriggerWorkflowId(pipeline: string): string {
  return `pipeline-trigger-${pipeline}`;
}

export const pipelineTrigger = defineWorkflow({
  name: 'pipelineTrigger',
  description:
    'The dataLanded trigger of one pipeline (workflow id pipeline-trigger-<name>): starts pipeline runs, debounced by rows or time, one per landed log offset.',
  input: PipelineTriggerInputSchema,
  result: returns<void>(),
});
