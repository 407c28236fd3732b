export {
  ContractRegistry,
  ContractFileError,
  UnknownContractError,
  parseContractFile,
  readPointer,
  compareVersions,
  secureSchemaWarnings,
  CONTRACTS_DIR,
  type Contract,
  type ContractFileIssue,
  type ValidationIssue,
  type ValidationResult,
} from './registry';
export { canonicalJson, derivedEventId, sha256Hex } from './canonical';
