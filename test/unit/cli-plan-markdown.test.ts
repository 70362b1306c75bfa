/**
 * Markdown output of `plan`, which CI jobs post as pull-request comments: values from the files
 * must not become markup, mentions or doubled escapes there.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AccountPlan, Plan } from '../../src/cli/plan-model.ts';
import { escapeMarkdown, renderMarkdown } from '../../src/cli/plan-output.ts';

function planWithPurpose(from: string, to: string): Plan {
  const account: AccountPlan = {
    resource: 'default/bot',
    file: 'bot.yaml',
    line: 1,
    accountId: 'SA-1',
    accountName: 'bot',
    action: 'update',
    changes: [{ attribute: 'purpose', from, to }],
    tokens: [],
    notes: [],
  };
  return {
    tenant: {
      name: 'default',
      baseUrl: 'https://acme.api.identitynow.com',
      source: 'Service Accounts',
      identityProfile: 'Service Accounts',
    },
    tenantChanges: [],
    accounts: [account],
    unmanaged: [],
    otherTenants: [],
    problems: [],
  };
}

function accountRow(markdown: string): string {
  const row = markdown.split('\n').find((line) => line.startsWith('| default/bot '));
  assert.ok(row, markdown);
  return row;
}

test('quotes inside a value are not doubled', () => {
  const row = accountRow(renderMarkdown(planWithPurpose('old', 'say "hi"'), []));
  assert.ok(row.includes('purpose: "old" → "say "hi""'), row);
  assert.not.ok(row.includes('\\"'), row);
});

test('mention in a value is not a mention', () => {
  const row = accountRow(renderMarkdown(planWithPurpose('old', 'ask @octocat'), []));
  assert.ok(row.includes('"ask `@`octocat"'), row);
  assert.not.match(row, /(^|[^`])@octocat/);
});

const escapeCases: Array<[string, string, string]> = [
  ['mention at the start', '@octocat', '`@`octocat'],
  ['team mention', 'cc @org/team', 'cc `@`org/team'],
  ['repeated at signs', '@@octocat', '`@@`octocat'],
  ['mention after punctuation', '(@octocat)', '(`@`octocat)'],
  ['mention after a non-ASCII letter', 'ü@octocat', 'ü`@`octocat'],
  ['e-mail address', 'bot@example.com', 'bot@example.com'],
  ['HTML', '<img src=x>', '&lt;img src=x&gt;'],
  ['table pipe and emphasis', 'a | *b*', 'a \\| \\*b\\*'],
  // Rendered, the escaped backslash shows the break as a visible \n.
  ['line break', 'one\ntwo', 'one\\\\ntwo'],
  ['backtick before a mention', '`@x', '\\``@`x'],
];

for (const [name, input, expected] of escapeCases) {
  test(`escapeMarkdown: ${name}`, () => {
    assert.is(escapeMarkdown(input), expected);
  });
}

test.run();
