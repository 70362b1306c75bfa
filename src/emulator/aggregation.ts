// Full aggregation of a delimited-file source from an uploaded CSV file (load-accounts), and the
// account schema download that gives callers the file's header.

import { createHash } from 'node:crypto';
import { formatCsvLine, parseCsv } from './csv.ts';
import { badRequest } from './errors.ts';
import { newId, nowIso } from './ids.ts';
import { delimitedFileConnector } from './source-defaults.ts';
import type { TenantState } from './state.ts';
import type { AccountRecord, SourceDto, TaskStatusDto } from './state-types.ts';

/** Options of one load-accounts request. */
export interface LoadAccountsOptions {
  /** Skip rows equal to the ones the previous aggregation wrote (ISC's default, `true`). */
  optimize: boolean;
}

function rowDigest(attributes: Record<string, string>): string {
  return createHash('sha256')
    .update(JSON.stringify(Object.entries(attributes)))
    .digest('hex');
}

/** Returns the account schema's attribute names as a CSV header line (text/csv download). */
export function accountSchemaCsv(state: TenantState, sourceId: string): string {
  const source = state.getSource(sourceId);
  if (source.type !== delimitedFileConnector.type) {
    throw badRequest('Only a source of type DelimitedFile supports schema file download.');
  }
  const schema = state.accountSchema(sourceId);
  return formatCsvLine(schema?.attributes.map((attribute) => attribute.name) ?? []);
}

/**
 * Submits a full aggregation of a delimited-file source from CSV text (load-accounts). When the
 * task runs, rows create or update accounts by the identity attribute, and accounts missing from
 * the file are removed unless that would exceed the source's deleteThreshold percentage. The task
 * fails when the file is not RFC 4180 CSV or its header differs from the account schema.
 */
export function submitLoadAccounts(
  state: TenantState,
  sourceId: string,
  csvText: string,
  launcher: string,
  options: LoadAccountsOptions = { optimize: true },
): TaskStatusDto {
  const source = state.getSource(sourceId);
  if (source.type !== delimitedFileConnector.type) {
    throw badRequest(`Source "${sourceId}" is not a DelimitedFile source, so it takes no file.`);
  }
  const running = [...state.tasks.values()].some(
    (task) =>
      task.completed === null &&
      task.uniqueName === 'Cloud Account Aggregation' &&
      task.attributes.appId === sourceId,
  );
  const task = state.startTask(
    'Cloud Account Aggregation',
    'Aggregate from the specified application',
    launcher,
    () => {
      if (running) {
        throw new Error(
          'This aggregation failed because the currently running aggregation must complete ' +
            'before the next one can start.',
        );
      }
      const { counts, warnings } = aggregate(state, source, csvText, options);
      Object.assign(task.attributes, counts);
      return warnings;
    },
  );
  task.attributes.appId = sourceId;
  task.attributes.optimizedAggregation = options.optimize ? 'enabled' : 'disabled';
  task.target = { id: sourceId, type: 'APPLICATION', name: source.name };
  task.returns = ['total', 'created', 'updated', 'deleted', 'ignored', 'optimized'].map((name) => ({
    name: `TASK_OUT_ACCOUNT_AGGREGATION_${name.toUpperCase()}`,
    attributeName: name,
  }));
  return task;
}

/** Applies one CSV file to a source and returns the counts and warnings the task reports. */
function aggregate(
  state: TenantState,
  source: SourceDto,
  csvText: string,
  options: LoadAccountsOptions,
): { counts: Record<string, number>; warnings: string[] } {
  const schema = state.accountSchema(source.id);
  const identityAttribute = schema?.identityAttribute;
  if (!schema || !identityAttribute) {
    throw new Error(`source ${source.id} has no account schema with an identity attribute`);
  }
  const [header, ...rows] = parseCsv(csvText);
  if (!header) throw new Error('the file is empty, so it has no header row');
  checkHeader(
    header,
    schema.attributes.map((attribute) => attribute.name),
  );
  const identityColumn = header.indexOf(identityAttribute);
  if (identityColumn < 0) {
    throw new Error(
      `the header has no column "${identityAttribute}", the account identity attribute`,
    );
  }
  rows.forEach((row, index) => {
    if (row.length !== header.length) {
      throw new Error(
        `CSV record ${index + 2} has ${row.length} fields, but the header has ${header.length}`,
      );
    }
  });
  const counts = {
    total: rows.length,
    created: 0,
    updated: 0,
    deleted: 0,
    ignored: 0,
    optimized: 0,
  };
  const seen = new Set<string>();

  for (const row of rows) {
    const nativeIdentity = row[identityColumn] ?? '';
    if (nativeIdentity === '' || seen.has(nativeIdentity)) {
      counts.ignored++;
      continue;
    }
    seen.add(nativeIdentity);
    const attributes: Record<string, string> = {};
    header.forEach((column, index) => {
      const value = row[index];
      if (value !== undefined && value !== '') attributes[column] = value;
    });
    const digest = rowDigest(attributes);
    const existing = state.findByNativeIdentity(source.id, nativeIdentity);
    // NOTE: optimization is assumed to compare a row with what the previous aggregation wrote,
    // not with the account's current attributes. So a row equal to the last upload skips an
    // account changed through the API since, unless disableOptimization is set.
    if (existing && options.optimize && existing.aggregatedDigest === digest) {
      counts.optimized++;
    } else if (existing) {
      state.writeAccount(existing, attributes);
      existing.aggregatedDigest = digest;
      counts.updated++;
    } else {
      const now = nowIso();
      const account: AccountRecord = {
        id: newId(),
        sourceId: source.id,
        nativeIdentity,
        name: nativeIdentity,
        attributes: {},
        identityId: null,
        created: now,
        modified: now,
        aggregatedDigest: digest,
      };
      state.writeAccount(account, attributes);
      state.accounts.set(account.id, account);
      counts.created++;
    }
  }

  const missing = [...state.accounts.values()].filter(
    (account) => account.sourceId === source.id && !seen.has(account.nativeIdentity),
  );
  const existingCount = countAccounts(state, source.id) - counts.created;
  const threshold = typeof source.deleteThreshold === 'number' ? source.deleteThreshold : 10;
  // NOTE: ISC skips the delete phase when deletions exceed deleteThreshold percent. Whether it
  // compares with > or >=, and how it reports the skip, is not documented.
  if (existingCount > 0 && (missing.length * 100) / existingCount > threshold) {
    const warning =
      `Deleting ${missing.length} of ${existingCount} accounts exceeds the delete threshold of ` +
      `${threshold}%, so the delete phase was skipped.`;
    return { counts, warnings: [warning] };
  }
  for (const account of missing) state.removeAccount(account);
  counts.deleted = missing.length;
  return { counts, warnings: [] };
}

/**
 * Raises an Error unless the header lists the account schema's attributes with the same names in
 * the same order, as the flat file template from the schema download does.
 */
function checkHeader(header: string[], expected: string[]): void {
  if (
    header.length === expected.length &&
    header.every((name, index) => name === expected[index])
  ) {
    return;
  }
  const unknown = header.filter((name) => !expected.includes(name));
  const missing = expected.filter((name) => !header.includes(name));
  const details = [
    unknown.length > 0 ? `unknown columns: ${unknown.join(', ')}` : '',
    missing.length > 0 ? `missing columns: ${missing.join(', ')}` : '',
    unknown.length === 0 && missing.length === 0 ? 'the columns are in a different order' : '',
  ].filter(Boolean);
  throw new Error(
    `the header "${formatCsvLine(header)}" does not match the account schema ` +
      `"${formatCsvLine(expected)}" (${details.join('; ')})`,
  );
}

function countAccounts(state: TenantState, sourceId: string): number {
  let count = 0;
  for (const account of state.accounts.values()) if (account.sourceId === sourceId) count++;
  return count;
}
