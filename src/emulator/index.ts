// Public entry of the ISC emulator.

export type { ClientCredential } from './auth.ts';
export { Contract } from './contract.ts';
export {
  type DropFault,
  type EmulatorFaults,
  type ErrorFault,
  type FaultBody,
  type FaultStatus,
  type LatencyFault,
  parseFaults,
  type RequestSelector,
  type TaskKind,
} from './faults.ts';
export type {
  EmulatorFixtures,
  FixtureAccount,
  FixtureIdentity,
  FixtureSource,
} from './fixtures.ts';
export { runEmulatorCommand } from './main.ts';
export { iscDefaultRateLimit, type RateLimitCount, type RateLimitOptions } from './rate-limit.ts';
export {
  type CallFault,
  type CallRecord,
  type ContractViolation,
  defaultClientId,
  type EmulatorOptions,
  type RunningEmulator,
  startEmulator,
} from './server.ts';
export { TenantState } from './state.ts';
