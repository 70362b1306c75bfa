// Identifier and timestamp formats used by ISC: most object ids are 32 lowercase hex characters
// (for example 2c91808474683da6017468693c260195), but identity profile ids are UUIDs.

import { randomBytes, randomUUID } from 'node:crypto';

export function newId(): string {
  return randomBytes(16).toString('hex');
}

export function newUuid(): string {
  return randomUUID();
}

export function nowIso(): string {
  return new Date().toISOString();
}
