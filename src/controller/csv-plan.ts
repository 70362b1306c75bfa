// The account file one csv-mode upload sends: every account the operator owns, as the specs
// describe them, plus every other account of the source exactly as ISC has it.

import { type AccountRow, parseAccountsCsv } from '../isc/accounts-csv.ts';
import type { Account, SourceSchema } from '../isc/types.ts';
import { accountFinalizer, pausedAnnotation, type ServiceAccount } from '../kube/types.ts';
import { desiredAccountAttributes } from './reconcile.ts';
import { requiredAccountAttributes } from './tenant.ts';

/** Plan of one upload: its rows, what they change on the source, and the resources they carry. */
export interface CsvPlan {
  rows: AccountRow[];
  /** Native identities of rows that create, change or remove an account. */
  created: string[];
  updated: string[];
  removed: string[];
  /** Lower-cased ids of accounts the plan removes because their owning resource is deleted. */
  ownedRemovals: ReadonlySet<string>;
  /** Rows rendered from a resource's spec, by resource uid: the generation they describe. */
  included: Map<string, number>;
  /** Rows copied unchanged from the source. */
  keptRows: number;
}

/**
 * Returns whether the resource's account belongs to the operator. It does when the resource
 * created it (either sync mode records the create request in status first) or adopted it. It
 * also does when `claimed` lists the uid, because a reconcile recorded the create request
 * moments ago and the informer has not shown it yet.
 */
export function ownsAccount(resource: ServiceAccount, claimed: ReadonlySet<string>): boolean {
  const status = resource.status;
  return (
    status?.accountOwned === true ||
    Boolean(status?.accountCreateRequestedAt) ||
    claimed.has(resource.metadata.uid ?? '')
  );
}

/** Returns whether the operator may write the resource's row at all (not paused, not ObserveOnly). */
function managed(resource: ServiceAccount): boolean {
  return (
    resource.spec.managementPolicy !== 'ObserveOnly' &&
    resource.metadata.annotations?.[pausedAnnotation] !== 'true' &&
    Boolean(resource.spec.accountId)
  );
}

/** Returns whether an upload leaves the resource's account out, so that ISC removes it. */
function removing(resource: ServiceAccount): boolean {
  return (
    Boolean(resource.metadata.deletionTimestamp) &&
    (resource.spec.deletionPolicy ?? 'Delete') === 'Delete' &&
    (resource.metadata.finalizers ?? []).includes(accountFinalizer)
  );
}

/**
 * Returns the account file's columns, the schema's attribute names in schema order, or a
 * sentence that explains why the schema cannot take a file the operator renders.
 */
export function accountFileColumns(schema: SourceSchema): string[] | string {
  const names = schema.attributes.map((attribute) => attribute.name);
  const missing = requiredAccountAttributes.filter((name) => !names.includes(name));
  if (missing.length > 0) return `the account schema lacks ${missing.join(', ')}`;
  if (schema.identityAttribute !== 'id') {
    return `the account schema's identity attribute is "${schema.identityAttribute}", not "id"`;
  }
  const duplicates = names.filter((name, index) => names.indexOf(name) !== index);
  if (duplicates.length > 0) return `the account schema repeats ${duplicates.join(', ')}`;
  const multi = schema.attributes.filter((attribute) => attribute.isMulti);
  if (multi.length > 0) {
    return (
      `the account schema has multi-valued attributes (${multi.map((a) => a.name).join(', ')}), ` +
      'which the operator cannot write back unchanged'
    );
  }
  return names;
}

/**
 * Builds the next account file. `resources` are the ServiceAccounts of this tenant, `accounts`
 * every account the source has now. Ids compare without regard to case, as in ISC.
 */
export function planAccountFile(input: {
  columns: readonly string[];
  resources: readonly ServiceAccount[];
  accounts: readonly Account[];
  claimed: ReadonlySet<string>;
}): CsvPlan {
  const current = new Map<string, Account>();
  for (const account of input.accounts) current.set(account.nativeIdentity.toLowerCase(), account);

  const rows = new Map<string, AccountRow>();
  const included = new Map<string, number>();
  const removedOwned = new Set<string>();
  // The oldest claim on an id wins, as in the api mode's duplicate check.
  const byAge = [...input.resources].sort(
    (a, b) =>
      new Date(a.metadata.creationTimestamp ?? 0).getTime() -
      new Date(b.metadata.creationTimestamp ?? 0).getTime(),
  );
  for (const resource of byAge) {
    if (!managed(resource) || !ownsAccount(resource, input.claimed)) continue;
    const key = resource.spec.accountId!.toLowerCase();
    if (rows.has(key) || removedOwned.has(key)) continue;
    if (removing(resource)) {
      removedOwned.add(key);
      continue;
    }
    // A resource deleted under Orphan keeps its account as it is, like any unowned account.
    if (resource.metadata.deletionTimestamp) continue;
    rows.set(key, desiredAccountAttributes(resource));
    included.set(resource.metadata.uid ?? '', resource.metadata.generation ?? 0);
  }

  const created: string[] = [];
  const updated: string[] = [];
  for (const [key, row] of rows) {
    const account = current.get(key);
    if (!account) created.push(row.id!);
    else if (!sameRow(account, row, input.columns)) updated.push(row.id!);
  }

  let keptRows = 0;
  const removed: string[] = [];
  for (const [key, account] of current) {
    if (rows.has(key)) continue;
    if (removedOwned.has(key)) {
      removed.push(account.nativeIdentity);
      continue;
    }
    rows.set(key, rowOf(account, input.columns));
    keptRows++;
  }

  // Code-unit order, the same on every machine, unlike a locale's collation.
  const sorted = [...rows.entries()].sort(([a], [b]) => compareCodeUnits(a, b));
  return {
    rows: sorted.map(([, row]) => row),
    created,
    updated,
    removed,
    ownedRemovals: removedOwned,
    included,
    keptRows,
  };
}

function compareCodeUnits(a: string, b: string): number {
  if (a < b) return -1;
  if (a > b) return 1;
  return 0;
}

/** The row of an account as ISC has it, so that an upload writes it back unchanged. */
function rowOf(account: Account, columns: readonly string[]): AccountRow {
  const attributes = account.attributes ?? {};
  const row: Record<string, string> = {};
  for (const column of columns) {
    const value = attributes[column];
    if (typeof value === 'string') row[column] = value;
    else if (value !== undefined && value !== null) row[column] = String(value);
  }
  row.id ??= account.nativeIdentity;
  return row;
}

function sameRow(account: Account, row: AccountRow, columns: readonly string[]): boolean {
  const current = rowOf(account, columns);
  return columns.every((column) => (current[column] ?? '') === (row[column] ?? ''));
}

/**
 * Compares the rendered file with the source's current accounts, independently of how the file
 * was built, and returns why the upload is refused, or undefined when it is safe: it must not
 * remove an account outside `ownedRemovals`, nor more than `maxPercent` of the accounts.
 */
export function unsafeUploadReason(input: {
  text: string;
  accounts: readonly Account[];
  ownedRemovals: ReadonlySet<string>;
  maxPercent: number;
}): string | undefined {
  const kept = new Set(
    parseAccountsCsv(input.text).rows.map((row) => (row.id ?? '').toLowerCase()),
  );
  const removed = input.accounts
    .map((account) => account.nativeIdentity)
    .filter((id) => !kept.has(id.toLowerCase()));
  const unowned = removed.filter((id) => !input.ownedRemovals.has(id.toLowerCase()));
  if (unowned.length > 0) {
    return (
      `the upload would remove ${unowned.length} accounts the operator does not own ` +
      `(${unowned.slice(0, 5).join(', ')})`
    );
  }
  const total = input.accounts.length;
  if (removed.length === 0 || total === 0) return undefined;
  const percent = (removed.length * 100) / total;
  if (percent <= input.maxPercent) return undefined;
  return (
    `the upload would remove ${removed.length} of the source's ${total} accounts ` +
    `(${percent.toFixed(1)}%), more than spec.deleteGuard.maxPercent (${input.maxPercent}%), ` +
    `among them ${removed.slice(0, 5).join(', ')}. If this is intended, raise ` +
    'spec.deleteGuard.maxPercent until the upload is done; if not, set deletionPolicy: Orphan ' +
    'on the deleted ServiceAccounts to keep their accounts'
  );
}
