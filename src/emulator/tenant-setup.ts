// Builds the tenant an emulator starts with: the state file's content when one exists, else the
// seeded ORG_ADMIN identity and the fixtures, and in both cases the PATs of the configured clients.

import { defaultAccessTokenValiditySeconds, seedPersonalAccessToken } from './access.ts';
import type { ClientCredential } from './auth.ts';
import { type EmulatorFixtures, loadFixtures } from './fixtures.ts';
import { readStateFile, restoreState } from './persistence.ts';
import type { TenantState } from './state.ts';

export interface TenantSetup {
  stateFile?: string;
  fixtures?: EmulatorFixtures;
  /** Credentials to accept. A client without identityId belongs to the admin identity. */
  clients: ClientCredential[];
  tokenTtlSeconds?: number;
}

export interface SetUpTenant {
  adminIdentityId: string;
  clients: Array<ClientCredential & { identityId: string }>;
  /** Whether the tenant came from the state file, in which case the fixtures were not loaded. */
  restored: boolean;
}

function seedAdmin(state: TenantState, id?: string): string {
  return state.seedIdentity({
    id,
    alias: 'admin',
    email: 'admin@example.com',
    firstname: 'Tenant',
    lastname: 'Admin',
    capabilities: ['ORG_ADMIN'],
  }).id;
}

/** Fills an empty tenant from `setup`. Raises an Error for an unreadable state file. */
export function setUpTenant(state: TenantState, setup: TenantSetup): SetUpTenant {
  const saved = setup.stateFile ? readStateFile(setup.stateFile) : undefined;
  let adminIdentityId: string;
  if (saved) {
    restoreState(state, saved);
    adminIdentityId = state.identities.has(saved.adminIdentityId)
      ? saved.adminIdentityId
      : seedAdmin(state, saved.adminIdentityId);
  } else {
    adminIdentityId = seedAdmin(state);
    if (setup.fixtures) loadFixtures(state, setup.fixtures, adminIdentityId);
  }

  const clients = setup.clients.map((client) => ({
    ...client,
    identityId: client.identityId ?? adminIdentityId,
  }));
  for (const client of clients) {
    if (!state.identities.has(client.identityId)) {
      state.seedIdentity({
        id: client.identityId,
        alias: `user-${client.clientId}`,
        email: `${client.clientId}@example.com`,
        firstname: 'Emulated',
        lastname: client.clientId,
        capabilities: [],
      });
    }
    // A configured client replaces a PAT of the same id from the state file.
    seedPersonalAccessToken(state, {
      id: client.clientId,
      secret: client.clientSecret,
      name: `emulator seed ${client.clientId}`,
      scope: client.scope ?? null,
      ownerId: client.identityId,
      accessTokenValiditySeconds: setup.tokenTtlSeconds ?? defaultAccessTokenValiditySeconds,
      expirationDate: null,
      userAwareTokenNeverExpires: true,
    });
  }
  return { adminIdentityId, clients, restored: saved !== undefined };
}
