// Public entry of the ISC emulator.

export type { ClientCredential } from './auth.ts';
export { Contract } from './contract.ts';
export { runEmulatorCommand } from './main.ts';
export { iscDefaultRateLimit, type RateLimitOptions } from './rate-limit.ts';
export {
  type CallRecord,
  type ContractViolation,
  defaultClientId,
  type EmulatorOptions,
  type RunningEmulator,
  startEmulator,
} from './server.ts';
export { TenantState } from './state.ts';
