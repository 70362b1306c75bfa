// Full aggregation of a delimited-file source from an uploaded CSV file (load-accounts), and the
// account schema download that gives callers the file's header.

import { formatCsvLine, parseCsv } from './csv.ts';
import { badRequest } from './errors.ts';
import { newId, nowIso } from './ids.ts';
import { delimitedFileConnector } from './source-defaults.ts';
import type { TenantState } from './state.ts';
import type { AccountRecord, SourceDto, TaskStatusDto } from './state-types.ts';

function sameJson(left: unknown, right: unknown): boolean {
  return JSON.stringify(left) === JSON.stringify(right);
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
 * the file are removed unless that would exceed the source's deleteThreshold percentage.
 */
export function submitLoadAccounts(
  state: TenantState,
  sourceId: string,
  csvText: string,
  launcher: string,
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
      const { counts, warnings } = aggregate(state, source, csvText);
      Object.assign(task.attributes, counts);
      return warnings;
    },
  );
  task.attributes.appId = sourceId;
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
): { counts: Record<string, number>; warnings: string[] } {
  const schema = state.accountSchema(source.id);
  const identityAttribute = schema?.identityAttribute;
  if (!schema || !identityAttribute) {
    throw new Error(`source ${source.id} has no account schema with an identity attribute`);
  }
  const [header, ...rows] = parseCsv(csvText);
  if (!header) throw new Error('the file is empty, so it has no header row');
  const identityColumn = header.indexOf(identityAttribute);
  if (identityColumn < 0) {
    throw new Error(
      `the header has no column "${identityAttribute}", the account identity attribute`,
    );
  }
  // Columns outside the account schema are ignored, like attributes the schema does not define.
  const declared = new Set(schema.attributes.map((attribute) => attribute.name));
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
      if (declared.has(column) && value !== undefined && value !== '') attributes[column] = value;
    });
    const existing = state.findByNativeIdentity(source.id, nativeIdentity);
    if (existing && sameJson(existing.attributes, attributes)) {
      counts.optimized++;
    } else if (existing) {
      state.writeAccount(existing, attributes);
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

function countAccounts(state: TenantState, sourceId: string): number {
  let count = 0;
  for (const account of state.accounts.values()) if (account.sourceId === sourceId) count++;
  return count;
}
