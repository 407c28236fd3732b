/** Default task queue names; workers may override them (SLUICE_TASK_QUEUE_CPU / _GPU). */
export const DEFAULT_TASK_QUEUES = { cpu: 'sluice-cpu', gpu: 'sluice-gpu' } as const;
export type QueueKind = keyof typeof DEFAULT_TASK_QUEUES;
export interface TaskQueues {
  cpu: string;
  gpu: string;
}
