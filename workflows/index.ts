/** Every workflow sluice registers; the names are the public API (shared/DESIGN.md, "Workflows"). */
export { healthCheck, type HealthCheckInput, type HealthCheckResult } from './healthCheck';
