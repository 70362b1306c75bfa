/**
 * Renders a plan as a terminal table, as Markdown for a pull-request comment, or as JSON.
 * Values from files and from ISC are escaped for each format, so they cannot forge output.
 */
import type { Finding } from '../validation/validate.ts';
import { printable } from './manifest-check.ts';
import {
  type AccountAction,
  type AccountPlan,
  hasChanges,
  type Plan,
  writesToIsc,
} from './plan-model.ts';

const actions: readonly AccountAction[] = [
  'create',
  'update',
  'adopt',
  'delete',
  'orphan',
  'unchanged',
  'observe',
  'blocked',
];

/** Counts per action, plus unmanaged accounts and problems. */
export function summarize(plan: Plan): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const action of actions)
    counts[action] = plan.accounts.filter((entry) => entry.action === action).length;
  counts.unmanaged = plan.unmanaged.length;
  counts.tenantChanges = plan.tenantChanges.length;
  counts.problems = plan.problems.length;
  counts.userLevelsToAdd = sum(plan, (entry) => entry.userLevels?.add.length ?? 0);
  counts.userLevelsToWithdraw = sum(plan, (entry) => entry.userLevels?.withdraw.length ?? 0);
  for (const action of tokenActions) {
    const key = `tokensTo${action[0]!.toUpperCase()}${action.slice(1)}`;
    counts[key] = sum(plan, (entry) => tokensOf(entry, action).length);
  }
  return counts;
}

const tokenActions = ['mint', 'rotate', 'revoke'] as const;

/** Tokens of a writing entry with the action; blocked and observed resources change nothing. */
function tokensOf(entry: AccountPlan, action: string) {
  if (entry.action === 'blocked' || entry.action === 'observe') return [];
  return entry.tokens.filter((token) => token.action === action);
}

function sum(plan: Plan, count: (entry: AccountPlan) => number): number {
  return plan.accounts.reduce((total, entry) => total + count(entry), 0);
}

function summaryLine(plan: Plan): string {
  const counts = summarize(plan);
  const parts = actions
    .filter((action) => counts[action]! > 0)
    .map((action) => `${counts[action]} ${action}`);
  parts.push(`${plan.unmanaged.length} unmanaged`);
  const access: string[] = [];
  const counted = (count: number | undefined, noun: string, verb: string) => {
    if (count) access.push(`${count} ${noun}${count === 1 ? '' : 's'} to ${verb}`);
  };
  counted(counts.userLevelsToAdd, 'user level', 'add');
  counted(counts.userLevelsToWithdraw, 'user level', 'withdraw');
  for (const action of tokenActions) {
    counted(counts[`tokensTo${action[0]!.toUpperCase()}${action.slice(1)}`], 'token', action);
  }
  return [parts.join(', '), ...(access.length > 0 ? [access.join(', ')] : [])].join('; ');
}

/** Lists the user-level and token changes of an entry, one line each, without markup. */
function accessLines(entry: AccountPlan): string[] {
  const lines: string[] = [];
  const levels = entry.userLevels;
  if (levels) {
    for (const level of levels.add) lines.push(`user level + ${level}`);
    for (const level of levels.withdraw)
      lines.push(`user level - ${level} (if the operator added it)`);
    if (levels.kept.length > 0)
      lines.push(
        `user levels kept (not requested, set outside the files): ${levels.kept.join(', ')}`,
      );
  }
  for (const token of entry.tokens) {
    if (token.action === 'keep') continue;
    lines.push(`token ${token.name}: ${token.action} (${token.detail})`);
  }
  return lines;
}

export function renderJson(plan: Plan, violations: readonly Finding[]): string {
  const json = {
    changes: hasChanges(plan),
    summary: summarize(plan),
    ...plan,
    policyViolations: violations,
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}

export function renderTable(plan: Plan, violations: readonly Finding[]): string {
  const lines: string[] = [];
  lines.push(
    `Tenant ${printable(plan.tenant.name)} at ${printable(plan.tenant.baseUrl)}, source "${printable(plan.tenant.source)}"`,
  );
  lines.push('');
  if (plan.tenantChanges.length > 0) {
    lines.push('Tenant changes:');
    for (const change of plan.tenantChanges)
      lines.push(`  ${change.action} ${change.object}: ${printable(change.detail)}`);
    lines.push('');
  }

  const rows = plan.accounts.map((entry) =>
    [
      entry.resource,
      entry.action,
      entry.accountId ?? '(generated)',
      entry.accountName,
      `${entry.changes.length}`,
    ].map(printable),
  );
  lines.push(...alignColumns([['RESOURCE', 'ACTION', 'ACCOUNT ID', 'NAME', 'CHANGES'], ...rows]));
  for (const entry of plan.accounts) {
    const access = accessLines(entry);
    if (entry.changes.length === 0 && entry.notes.length === 0 && access.length === 0) continue;
    lines.push(
      '',
      `${printable(entry.resource)} (${printable(entry.file)}:${entry.line}): ${entry.action}`,
    );
    for (const change of entry.changes) {
      const from = change.from === undefined ? '' : `${JSON.stringify(printable(change.from))} → `;
      lines.push(
        `    ${printable(change.attribute)}: ${from}${JSON.stringify(printable(change.to))}`,
      );
    }
    for (const line of access) lines.push(`    ${printable(line)}`);
    for (const note of entry.notes) lines.push(`    note: ${printable(note)}`);
  }

  if (plan.unmanaged.length > 0) {
    lines.push(
      '',
      'Accounts on the source that no resource in these files claims (the operator leaves them alone):',
    );
    const unmanagedRows = plan.unmanaged.map((account) =>
      [account.accountId, account.name, account.iscId, account.identityId ?? '-'].map(printable),
    );
    lines.push(
      ...alignColumns([['ACCOUNT ID', 'NAME', 'ISC ID', 'IDENTITY'], ...unmanagedRows]).map(
        (line) => `  ${line}`,
      ),
    );
  }
  appendLists(lines, plan, violations, (text) => printable(text));
  lines.push('', `Plan: ${summaryLine(plan)}.`);
  return `${lines.join('\n')}\n`;
}

export function renderMarkdown(plan: Plan, violations: readonly Finding[]): string {
  const cell = escapeMarkdown;
  const lines: string[] = [];
  lines.push(`### isc-sa-operator plan for tenant \`${cell(plan.tenant.name)}\``);
  lines.push('', `**${hasChanges(plan) ? 'Changes' : 'No changes'}**: ${summaryLine(plan)}.`);
  if (plan.tenantChanges.length > 0) {
    lines.push('', '| tenant object | action | detail |', '| --- | --- | --- |');
    for (const change of plan.tenantChanges)
      lines.push(`| ${change.object} | ${change.action} | ${cell(change.detail)} |`);
  }
  if (plan.accounts.length > 0) {
    lines.push(
      '',
      '| resource | action | account id | changes | notes |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const entry of plan.accounts) lines.push(markdownRow(entry));
  }
  if (plan.unmanaged.length > 0) {
    lines.push(
      '',
      '<details><summary>Accounts no resource in these files claims (left alone)</summary>',
      '',
    );
    lines.push('| account id | name | ISC id |', '| --- | --- | --- |');
    for (const account of plan.unmanaged)
      lines.push(`| ${cell(account.accountId)} | ${cell(account.name)} | ${cell(account.iscId)} |`);
    lines.push('', '</details>');
  }
  appendLists(lines, plan, violations, cell);
  return `${lines.join('\n')}\n`;
}

function markdownRow(entry: AccountPlan): string {
  const changes = entry.changes.map((change) => {
    const from = change.from === undefined ? '' : `${markdownQuote(change.from)} → `;
    return `${escapeMarkdown(change.attribute)}: ${from}${markdownQuote(change.to)}`;
  });
  changes.push(...accessLines(entry).map(escapeMarkdown));
  const action = writesToIsc(entry) ? `**${entry.action}**` : entry.action;
  const id = entry.accountId ?? '(generated)';
  return `| ${escapeMarkdown(entry.resource)} | ${action} | ${escapeMarkdown(id)} | ${changes.join('<br>')} | ${entry.notes.map(escapeMarkdown).join('<br>')} |`;
}

function appendLists(
  lines: string[],
  plan: Plan,
  violations: readonly Finding[],
  escapeText: (text: string) => string,
): void {
  if (plan.problems.length > 0) {
    lines.push('', 'Problems (the operator would stall):');
    for (const problem of plan.problems) lines.push(`- ${escapeText(problem)}`);
  }
  if (violations.length > 0) {
    lines.push('', 'Policy violations:');
    for (const violation of violations) {
      lines.push(
        `- ${escapeText(`${violation.file}:${violation.line ?? '?'} ${violation.resource ?? ''} ${violation.path}: ${violation.message}`)} (rule ${escapeText(violation.rule ?? '?')})`,
      );
    }
  }
  if (plan.otherTenants.length > 0) {
    lines.push('', `Not planned (another tenant): ${plan.otherTenants.map(escapeText).join(', ')}`);
  }
}

/**
 * Puts a value between plain double quotes. JSON quoting would add backslashes before inner
 * quotes, which the Markdown escaping would then double.
 */
function markdownQuote(value: string): string {
  return `"${escapeMarkdown(value)}"`;
}

/**
 * Escapes text for a Markdown table cell: HTML is neutralized, the characters of Markdown
 * syntax are backslash-escaped, and line breaks become visible `\n`. An `@` that could start a
 * mention (not preceded by a letter or digit) goes into a code span: a backslash escape would
 * still render as `@name`, which GitHub may link as a mention, and it links none inside code.
 */
export function escapeMarkdown(text: string): string {
  return printable(text.replace(/\r?\n/g, '\\n'))
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]|#~!])/g, '\\$1')
    .replace(/(^|[^A-Za-z0-9])(@+)/g, '$1`$2`');
}

function alignColumns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) =>
    row
      .map((value, column) => value.padEnd(widths[column]!))
      .join('  ')
      .trimEnd(),
  );
}
