/**
 * A public workflow: its name, its input declared once as a TypeBox schema (which is JSON Schema),
 * and its result type. From this one declaration come the TypeScript types, the published
 * contracts/workflows/<name>.input.json, the client's check, the workflow's first-activity check
 * and any update validator (api/check.ts).
 */
import type { Static, TSchema } from '@sinclair/typebox';

declare const resultBrand: unique symbol;
/** A type-only marker of a workflow's result (no value at run time). */
export interface Returns<R> {
  readonly [resultBrand]?: R;
}
export function returns<R>(): Returns<R> {
  return {};
}

export interface WorkflowDef<Name extends string = string, S extends TSchema = TSchema, R = unknown> {
  readonly name: Name;
  readonly title: string;
  readonly description: string;
  readonly input: S;
  readonly result: Returns<R>;
}

export type InputOf<D> = D extends WorkflowDef<string, infer S, unknown> ? Static<S> : never;
export type ResultOf<D> = D extends WorkflowDef<string, TSchema, infer R> ? R : never;
/** The function type of a workflow, as the Temporal client's typed handles want it. */
export type WorkflowFn<D> = (input: InputOf<D>) => Promise<ResultOf<D>>;

export function defineWorkflow<const Name extends string, S extends TSchema, R>(def: {
  name: Name;
  description: string;
  input: S;
  result: Returns<R>;
}): WorkflowDef<Name, S, R> {
  return { ...def, title: `${def.name} input` };
}
