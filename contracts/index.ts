export {
  ContractRegistry,
  ContractFileError,
  UnknownContractError,
  parseContractFile,
  readPointer,
  compareVersions,
  secureSchemaWarnings,
  hasNestedQuantifier,
  contractFields,
  CONTRACTS_DIR,
  type Contract,
  type ContractFileIssue,
  type ValidationIssue,
  type ValidationResult,
} from './registry';
export { canonicalJson, derivedEventId, sha256Hex } from './canonical';
export {
  expectationColumns,
  expectationName,
  expectationSeverity,
  type Expectation,
  type ExpectationType,
  type Severity,
} from './expectations';
export {
  diffContracts,
  diffSchemas,
  checkContractEvolution,
  formatDiff,
  type ContractDiff,
  type SchemaChange,
  type ChangeKind,
} from './diff';
export { contractImpact, formatImpact, type ContractImpact } from './impact';
