/** `healthCheck`: proves the installation end to end (database, ONNX Runtime on both queues). */
import { Type, type Static } from '@sinclair/typebox';
import { defineWorkflow, returns } from './define';

const QueueName = Type.String({ minLength: 1, maxLength: 200 });

export const HealthCheckInputSchema = Type.Object(
  { queues: Type.Optional(Type.Object({ cpu: Type.Optional(QueueName), gpu: Type.Optional(QueueName) }, { additionalProperties: false })) },
  { additionalProperties: false },
);
export type HealthCheckInput = Static<typeof HealthCheckInputSchema>;

export interface DatabaseHealth {
  serverVersion: string;
  migrations: number;
  rawEvents: number;
  quarantined: number;
}

export interface RuntimeHealth {
  host: string;
  onnxruntime: string;
  /** Execution providers this build of onnxruntime-node offers on this host. */
  backends: string[];
  /** Result of a real inference through ONNX Runtime on a one-node graph (Add), as a liveness proof. */
  inferenceOk: boolean;
  /** Where that inference ran: CUDA only when the worker is configured for it (SLUICE_ONNX_CUDA) and the provider loads. */
  executionProvider?: 'cpu' | 'cuda';
  /** Why CUDA was not used although the worker is configured for it. */
  executionProviderNote?: string;
}

export interface HealthCheckResult {
  database: DatabaseHealth;
  cpu: RuntimeHealth;
  gpu: RuntimeHealth;
}

export const healthCheck = defineWorkflow({
  name: 'healthCheck',
  description: 'Reads the database and probes ONNX Runtime on the CPU and the GPU queue. Read-only.',
  input: HealthCheckInputSchema,
  result: returns<HealthCheckResult>(),
});
