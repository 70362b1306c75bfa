// State file of the emulator (`stateFile` option, `--state-file` flag): the tenant is read from it
// on start when the file exists and written to it on close, so a demo tenant survives restarts.
// The file contains PAT secrets so that the same credentials keep working, and is written with
// mode 0600. Token signing keys are not kept, so clients need new tokens after a restart.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { nowIso } from './ids.ts';
import type { TenantState } from './state.ts';
import type {
  AccountRecord,
  IdentityProfileDto,
  IdentityRecord,
  PersonalAccessTokenRecord,
  SchemaDto,
  SourceDto,
  TaskStatusDto,
} from './state-types.ts';

export const stateFileFormat = 'isc-emulator-state/1';

export interface StateFile {
  format: typeof stateFileFormat;
  savedAt: string;
  /** The seeded ORG_ADMIN identity, kept so that adminIdentityId is the same after a restart. */
  adminIdentityId: string;
  sources: SourceDto[];
  /** Schemas by source id. */
  schemas: Record<string, SchemaDto[]>;
  accounts: AccountRecord[];
  identityProfiles: IdentityProfileDto[];
  identities: IdentityRecord[];
  tasks: TaskStatusDto[];
  personalAccessTokens: PersonalAccessTokenRecord[];
}

/** Reads a state file, or returns undefined when it does not exist. */
export function readStateFile(path: string): StateFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: Partial<StateFile>;
  try {
    parsed = JSON.parse(text) as Partial<StateFile>;
  } catch (error) {
    throw new Error(`The state file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (parsed.format !== stateFileFormat) {
    throw new Error(
      `The state file ${path} has format "${String(parsed.format)}", expected "${stateFileFormat}". ` +
        'Delete it to start with an empty tenant.',
    );
  }
  return parsed as StateFile;
}

/**
 * Loads a state file into an empty tenant. Tasks that had not completed when the file was written
 * are marked as failed, because their work did not survive the restart.
 */
export function restoreState(state: TenantState, file: StateFile): void {
  for (const source of file.sources) state.sources.set(source.id, source);
  for (const [sourceId, schemas] of Object.entries(file.schemas)) {
    state.schemas.set(sourceId, schemas);
  }
  for (const account of file.accounts) state.accounts.set(account.id, account);
  for (const profile of file.identityProfiles) state.identityProfiles.set(profile.id, profile);
  for (const record of file.identities) state.identities.set(record.identity.id, record);
  for (const token of file.personalAccessTokens) {
    state.personalAccessTokens.set(token.id, token);
    state.issuedClientSecrets.add(token.secret);
  }
  for (const task of file.tasks) {
    if (task.completed === null) {
      task.completionStatus = 'ERROR';
      task.completed = nowIso();
      task.messages.push({
        type: 'ERROR',
        localizedText: { locale: 'en-US', message: 'The emulator stopped before the task ran.' },
        key: 'error',
        parameters: null,
      });
    }
    state.tasks.set(task.id, task);
  }
}

/** Writes the tenant to `path` through a temporary file, so a crash leaves the old file whole. */
export function writeStateFile(path: string, state: TenantState, adminIdentityId: string): void {
  const file: StateFile = {
    format: stateFileFormat,
    savedAt: nowIso(),
    adminIdentityId,
    sources: [...state.sources.values()],
    schemas: Object.fromEntries(state.schemas),
    accounts: [...state.accounts.values()],
    identityProfiles: [...state.identityProfiles.values()],
    identities: [...state.identities.values()],
    tasks: [...state.tasks.values()],
    personalAccessTokens: [...state.personalAccessTokens.values()],
  };
  const temporaryPath = `${path}.${process.pid}.tmp`;
  writeFileSync(temporaryPath, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporaryPath, path);
}
