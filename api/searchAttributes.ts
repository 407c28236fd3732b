/**
 * sluice's custom search attributes (all Keyword), used to find runs in the Temporal UI:
 * `SluicePipeline="demo" AND SluiceStatus="failed"`.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SluicePipeline = defineSearchAttributeKey('SluicePipeline', SearchAttributeType.KEYWORD);
export const SluiceStep = defineSearchAttributeKey('SluiceStep', SearchAttributeType.KEYWORD);
export const SluiceStatus = defineSearchAttributeKey('SluiceStatus', SearchAttributeType.KEYWORD);
export const SluiceDataset = defineSearchAttributeKey('SluiceDataset', SearchAttributeType.KEYWORD);
export const SluiceModel = defineSearchAttributeKey('SluiceModel', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTE_KEYS = [SluicePipeline, SluiceStep, SluiceStatus, SluiceDataset, SluiceModel] as const;
export const SEARCH_ATTRIBUTE_NAMES = SEARCH_ATTRIBUTE_KEYS.map((k) => k.name);

/** Values of SluiceStatus: every workflow sets `running`, then `completed` or `failed` (before it fails). */
export const SLUICE_STATUS = { running: 'running', completed: 'completed', failed: 'failed', cancelled: 'cancelled' } as const;
export type SluiceStatusValue = (typeof SLUICE_STATUS)[keyof typeof SLUICE_STATUS];
