import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CsvSyntaxError, formatCsvLine, parseCsv } from '../../src/emulator/csv.ts';

const parseCases: Array<[string, string, string[][]]> = [
  [
    'plain records',
    'id,name\nSA-001,audit01\n',
    [
      ['id', 'name'],
      ['SA-001', 'audit01'],
    ],
  ],
  [
    'CRLF record ends',
    'id,name\r\nSA-001,audit01\r\n',
    [
      ['id', 'name'],
      ['SA-001', 'audit01'],
    ],
  ],
  [
    'no final line break',
    'id,name\nSA-001,audit01',
    [
      ['id', 'name'],
      ['SA-001', 'audit01'],
    ],
  ],
  ['quoted comma', 'a\n"x, y"\n', [['a'], ['x, y']]],
  ['doubled quote', 'a\n"say ""hi"""\n', [['a'], ['say "hi"']]],
  [
    'LF inside quotes kept',
    'a,b\n"one\ntwo",x\n',
    [
      ['a', 'b'],
      ['one\ntwo', 'x'],
    ],
  ],
  [
    'CRLF inside quotes kept',
    'a,b\n"one\r\ntwo",x\r\n',
    [
      ['a', 'b'],
      ['one\r\ntwo', 'x'],
    ],
  ],
  [
    'empty fields',
    'a,b,c\n,,\n',
    [
      ['a', 'b', 'c'],
      ['', '', ''],
    ],
  ],
  ['quoted empty field', 'a\n""\n', [['a'], ['']]],
  ['blank lines skipped', 'a\n\nx\n\n', [['a'], ['x']]],
  ['byte order mark dropped', '\uFEFFid\nx\n', [['id'], ['x']]],
  [
    'hyphen in header',
    'id,e-mail\n1,a@example.com\n',
    [
      ['id', 'e-mail'],
      ['1', 'a@example.com'],
    ],
  ],
];

for (const [name, text, expected] of parseCases) {
  test(`csv parses ${name}`, () => {
    assert.equal(parseCsv(text), expected);
  });
}

const rejectCases: Array<[string, string, number, string]> = [
  ['quote inside unquoted field', 'a\nab"c\n', 2, 'quote inside an unquoted field'],
  ['text after closing quote', 'a\n"ab"c\n', 2, "unexpected 'c' after a closing quote"],
  ['unterminated quote', 'a\nx\n"open\n', 3, 'unterminated quoted field'],
];

for (const [name, text, record, reason] of rejectCases) {
  test(`csv rejects ${name}`, () => {
    try {
      parseCsv(text);
      assert.unreachable('the text was parsed');
    } catch (error) {
      assert.instance(error, CsvSyntaxError);
      assert.is((error as CsvSyntaxError).record, record);
      assert.match((error as Error).message, reason);
    }
  });
}

test('csv line quotes when needed', () => {
  assert.is(
    formatCsvLine(['id', 'e-mail', 'a,b', 'say "hi"', 'x\ny']),
    'id,e-mail,"a,b","say ""hi""","x\ny"',
  );
  const line = formatCsvLine(['a,b', 'say "hi"', 'x\r\ny']);
  assert.equal(parseCsv(line), [['a,b', 'say "hi"', 'x\r\ny']]);
});

test.run();
