import { readFile } from 'node:fs/promises';
import { ApiException } from '@kubernetes/client-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { classifyFailure } from '../../src/controller/errors.ts';
import { IscAmbiguousError, IscApiError, IscNetworkError } from '../../src/isc/errors.ts';

/** Returns the reasons listed in the README's "Ready reason" table. */
async function readyReasonTable(): Promise<Set<string>> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('| Ready reason |');
  assert.ok(start >= 0, 'README has no Ready reason table');
  const end = readme.indexOf('\n\n', start);
  const reasons = new Set<string>();
  for (const row of readme.slice(start, end).split('\n')) {
    const firstCell = row.split('|')[1] ?? '';
    for (const match of firstCell.matchAll(/`([A-Za-z]+)`/g)) reasons.add(match[1]!);
  }
  return reasons;
}

function iscError(status: number): IscApiError {
  return new IscApiError({ status, method: 'GET', path: '/accounts', detail: { messages: [] } });
}

test('failure reasons are in the table', async () => {
  const table = await readyReasonTable();
  const errors = [
    iscError(400),
    iscError(401),
    iscError(403),
    iscError(404),
    iscError(409),
    iscError(503),
    new IscNetworkError('GET', '/accounts', new Error('connection refused')),
    new IscAmbiguousError('accounts', ['a', 'b']),
    new ApiException(500, 'Internal Server Error', {}, {}),
    new Error('unexpected'),
  ];
  for (const error of errors) {
    const failure = classifyFailure(error);
    assert.ok(failure.kind !== 'conflict', error.message);
    assert.ok(table.has(failure.reason), `${failure.reason} is missing from the README table`);
  }
});

test('outcome reasons are in the table', async () => {
  const table = await readyReasonTable();
  // Outcome reasons set by src/controller/reconcile.ts, tokens.ts and tenant-registry.ts.
  const reasons = [
    'WaitingForUpload',
    'BootstrapCredentialsMissing',
    'UserLevelNotAllowed',
    'WaitingForTokenScopes',
    'TokenScopesNotApplied',
    'SecretConflict',
    'TokenRevocationFailed',
    'TenantNotReady',
    'TenantNotFound',
  ];
  for (const reason of reasons) assert.ok(table.has(reason), `${reason} is missing`);
});

test.run();
