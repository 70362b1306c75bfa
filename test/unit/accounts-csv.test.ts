import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCsv } from '../../src/emulator/csv.ts';
import { parseAccountsCsv, renderAccountsCsv } from '../../src/isc/accounts-csv.ts';
import { trickyValues } from '../support/tricky-values.ts';

const columns = ['id', 'name', 'e-mail', 'purpose'];

test('header keeps the hyphenated e-mail column', () => {
  const text = renderAccountsCsv(columns, []);
  assert.is(text, 'id,name,e-mail,purpose\r\n');
});

test('rows follow the column order', () => {
  const text = renderAccountsCsv(columns, [
    { purpose: 'p', 'e-mail': 'a@example.com', name: 'audit01', id: 'SA-1', extra: 'dropped' },
  ]);
  assert.is(text, 'id,name,e-mail,purpose\r\nSA-1,audit01,a@example.com,p\r\n');
});

test('missing attributes render empty', () => {
  const text = renderAccountsCsv(columns, [{ id: 'SA-1', name: 'n' }]);
  assert.is(text.split('\r\n')[1], 'SA-1,n,,');
});

for (const [label, value] of trickyValues) {
  test(`round trip: ${label}`, () => {
    const row = { id: 'SA-1', name: 'bot', 'e-mail': 'bot@example.com', purpose: value };
    const text = renderAccountsCsv(columns, [row]);
    const parsed = parseAccountsCsv(text);
    assert.equal(parsed.columns, columns);
    assert.equal(parsed.rows, [row]);
    // The emulator's strict RFC 4180 reader must read the same fields.
    assert.equal(parseCsv(text)[1], ['SA-1', 'bot', 'bot@example.com', value]);
  });
}

test('formula prefixes are quoted', () => {
  for (const value of ['=1', '+1', '-1', '@x']) {
    const text = renderAccountsCsv(['id'], [{ id: value }]);
    assert.is(text.split('\r\n')[1], `"${value}"`);
  }
});

test('parse drops a byte order mark', () => {
  const parsed = parseAccountsCsv('\uFEFFid,name\r\nSA-1,bot\r\n');
  assert.equal(parsed.columns, ['id', 'name']);
  assert.equal(parsed.rows, [{ id: 'SA-1', name: 'bot' }]);
});

test('parse accepts LF and CRLF', () => {
  const parsed = parseAccountsCsv('id,name\nSA-1,a\r\nSA-2,b\n');
  assert.equal(
    parsed.rows.map((row) => row.id),
    ['SA-1', 'SA-2'],
  );
});

test('parse keeps a CRLF inside quotes', () => {
  const parsed = parseAccountsCsv('id,purpose\r\nSA-1,"a\r\nb"\r\n');
  assert.is(parsed.rows[0]?.purpose, 'a\r\nb');
});

test('parse rejects a short record', () => {
  assert.throws(() => parseAccountsCsv('id,name\nSA-1\n'));
});

test('parse of empty text has no columns', () => {
  assert.equal(parseAccountsCsv(''), { columns: [], rows: [] });
});

test.run();
