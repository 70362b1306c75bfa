import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { queryString } from '../../src/isc/client.ts';
import { and, eq, within } from '../../src/isc/filters.ts';

test('filter quotes plain values', () => {
  assert.is(eq('name', 'Service Accounts'), 'name eq "Service Accounts"');
});

test('filter escapes quotes and backslashes', () => {
  assert.is(eq('name', 'a "quoted" \\ name'), 'name eq "a \\"quoted\\" \\\\ name"');
});

test('filter keeps operators inside values', () => {
  assert.is(eq('name', 'x" or name eq "y'), 'name eq "x\\" or name eq \\"y"');
});

test('filter in-list and conjunction', () => {
  assert.is(within('id', ['a', 'b']), 'id in ("a","b")');
  assert.is(
    and(eq('sourceId', 's'), eq('nativeIdentity', 'SA-1')),
    'sourceId eq "s" and nativeIdentity eq "SA-1"',
  );
});

test('query string percent-encodes filters', () => {
  const query = queryString({ filters: eq('name', 'A&B #1 100%'), limit: 250, offset: undefined });
  assert.is(query, '?filters=name%20eq%20%22A%26B%20%231%20100%25%22&limit=250');
});

test.run();
