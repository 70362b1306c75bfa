// csv sync mode: the changes of one tenant's resources are collected for a short window, then
// one complete account file is uploaded (load-accounts), its task polled, and one identity
// processing run started for the whole batch.

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { describeError } from '../errors.ts';
import { renderAccountsCsv } from '../isc/accounts-csv.ts';
import { eq } from '../isc/filters.ts';
import type { Account, TaskStatus } from '../isc/types.ts';
import { objectKey, type ServiceAccount } from '../kube/types.ts';
import { AccountIndex } from './account-index.ts';
import { accountFileColumns, planAccountFile, unsafeUploadReason } from './csv-plan.ts';
import { classifyFailure } from './errors.ts';
import type { TenantConnection } from './tenant-registry.ts';

/** Result of one batch, for the Tenant's status, Events, the kept file and metrics. */
export type BatchReport =
  | {
      kind: 'uploaded';
      text: string;
      sha256: string;
      rows: number;
      taskId: string;
      result: string;
      message: string;
      created: number;
      updated: number;
      removed: number;
      /**
       * Source of the three counts: `task` when ISC's task reported them, `diff` when it
       * did not and they are the operator's diff of the file against the source.
       */
      countsFrom: 'task' | 'diff';
      /** Accounts the file left out, so ISC was asked to remove them. */
      plannedRemovals: number;
      time: string;
    }
  /** The file matched the source, so nothing was sent. */
  | { kind: 'unchanged'; rows: number }
  /** Nothing was sent: a person must act. `reason` is SchemaMismatch or UnsafeUpload. */
  | { kind: 'refused'; reason: string; message: string }
  /** The upload or its task failed; the batch is tried again with a growing delay. */
  | { kind: 'failed'; reason: string; message: string };

export interface CsvBatcherOptions {
  tenantName: string;
  /** The tenant's current connection; undefined while it is not ready. */
  connection: () => TenantConnection | undefined;
  /** Every ServiceAccount of this tenant, from the informer. */
  resources: () => readonly ServiceAccount[];
  /** True once the informer has listed every resource; no upload happens before. */
  synced: () => boolean;
  /** Queues resources again, e.g. when the batch that carries their change has landed. */
  wake: (keys: readonly string[]) => void;
  report: (report: BatchReport) => Promise<void>;
  logger: Logger;
  /** Maximum delay between two tries of a failed or refused batch, in ms. */
  retryMaxMs?: number;
  /** How long a landed row is trusted before a mismatch in ISC is uploaded again, in ms. */
  driftRetryMs?: number;
  /** Largest age of the snapshot for a lookup whose account waits for its identity (5 s). */
  identityPendingMaxAgeMs?: number;
}

/** Result of handing a resource's row to the batcher. */
export type SubmitResult =
  /** The row goes out with the next upload; the resource is queued again when it landed. */
  | 'scheduled'
  /** An upload with this generation landed moments ago; a difference left is ISC's lag. */
  | 'landed';

/** How long a snapshot of the source's accounts serves lookups. */
const snapshotMaxAgeMs = 30_000;
/** How long it serves a lookup whose account still waits for its identity. */
const identityPendingMaxAgeMs = 5_000;
/** Maximum length of a collection window that new changes extend, in windows. */
const maxCollectWindows = 3;

/**
 * One tenant's upload queue. At most one upload runs at a time (ISC rejects an aggregation
 * while another runs on the source), and every upload renders the file from the informer's
 * current resources, so it carries every account the operator owns, whichever mode created it.
 */
export class CsvBatcher {
  private readonly options: CsvBatcherOptions;
  private readonly logger: Logger;
  /** Resources waiting for the next upload, by uid: their work-queue key. */
  private readonly waiting = new Map<string, string>();
  /** Resources whose create request was recorded in this process, before the informer shows it. */
  private readonly claimed = new Set<string>();
  /** Per resource uid, the generation the last landed upload carried, and when it landed. */
  private readonly landed = new Map<string, { generation: number; at: number }>();
  /** Uids whose rows the running upload carries. */
  private inFlight = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /** When the first change of the collection window now open arrived; undefined when none is. */
  private collectingSince: number | undefined;
  private running: Promise<void> | undefined;
  private dirty = false;
  private failures = 0;
  /** Set by a failed or refused batch: when to try again, in ms from its end. */
  private retryDelayMs: number | undefined;
  private stopped = false;
  private schemaRead = false;
  private stall: string | undefined;
  private snapshot: { index: AccountIndex; at: number; connection: TenantConnection } | undefined;
  windowMs = 10_000;
  maxDeletePercent = 10;

  constructor(options: CsvBatcherOptions) {
    this.options = options;
    this.logger = options.logger;
  }

  /**
   * Hands over a resource whose account must be created, changed or removed. `claim` records
   * that the resource owns the account from now on (its create request is in status).
   */
  submit(resource: ServiceAccount, claim: boolean): SubmitResult {
    const uid = resource.metadata.uid ?? '';
    if (claim) this.claimed.add(uid);
    const landed = this.landed.get(uid);
    const generation = resource.metadata.generation ?? 0;
    const driftRetryMs = this.options.driftRetryMs ?? 60_000;
    if (landed && landed.generation >= generation && Date.now() - landed.at < driftRetryMs) {
      return 'landed';
    }
    this.waiting.set(uid, objectKey(resource));
    this.collect();
    return 'scheduled';
  }

  /**
   * Reason that stops uploads until a person acts, as the Tenant's Stalled condition shows it
   * (SchemaMismatch, UnsafeUpload, UploadWarning, UploadFailed); undefined while uploads go out.
   */
  get stalledReason(): string | undefined {
    return this.stall;
  }

  /** False while an upload that carries the resource's row runs, so its outcome is unknown. */
  settled(uid: string): boolean {
    return !this.inFlight.has(uid) && !this.waiting.has(uid);
  }

  /**
   * Finds an account in a snapshot of the source that is read once per upload (and at least
   * every 30 s), so that a batch of reconciles costs a few paged reads instead of one lookup each.
   * An account found without its identity, as right after an upload while ISC processes the
   * identities, is looked up in a snapshot at most 5 s old, so resources do not wait out the 30 s.
   */
  async lookup(connection: TenantConnection, sourceId: string, nativeIdentity: string) {
    const read = (maxAgeMs: number) => {
      const now = Date.now();
      if (
        !this.snapshot ||
        this.snapshot.connection !== connection ||
        now - this.snapshot.at > maxAgeMs
      ) {
        this.snapshot = { index: new AccountIndex(connection.api), at: now, connection };
      }
      return this.snapshot.index.lookup(sourceId, nativeIdentity);
    };
    const matches = await read(snapshotMaxAgeMs);
    if (matches.length === 1 && !matches[0]!.identityId) {
      return read(this.options.identityPendingMaxAgeMs ?? identityPendingMaxAgeMs);
    }
    return matches;
  }

  /** Drops what is known about a resource that no longer exists. */
  forget(uid: string): void {
    this.claimed.delete(uid);
    this.landed.delete(uid);
    this.waiting.delete(uid);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * Applies the tenant's batch settings. A batch waiting to be retried after a refusal is tried
   * at once when they change, since a raised delete guard may now let it through.
   */
  configure(windowMs: number, maxDeletePercent: number): void {
    if (windowMs === this.windowMs && maxDeletePercent === this.maxDeletePercent) return;
    this.windowMs = windowMs;
    this.maxDeletePercent = maxDeletePercent;
    if (this.failures === 0 || this.running) return;
    this.failures = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.schedule(0);
  }

  /**
   * Opens or extends the collection window for a change. The upload starts once no change has
   * arrived for one window, or at the latest maxCollectWindows windows after the first change, so
   * a burst of changes goes out in one file and a steady stream is still uploaded. A waiting retry
   * is not moved, and an upload that runs looks again when it is done.
   */
  private collect(): void {
    if (this.stopped) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    if (this.timer && this.collectingSince === undefined) return;
    const now = Date.now();
    this.collectingSince ??= now;
    const deadline = this.collectingSince + this.windowMs * maxCollectWindows;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), Math.max(0, Math.min(this.windowMs, deadline - now)));
  }

  /** Starts an upload after `delayMs` (a retry, or at once), unless one waits or runs. */
  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => this.run(), delayMs);
  }

  private run(): void {
    this.timer = undefined;
    this.collectingSince = undefined;
    this.running = this.flush().finally(() => {
      this.running = undefined;
      const retryMs = this.retryDelayMs;
      this.retryDelayMs = undefined;
      if (retryMs !== undefined) {
        // Changes that arrive meanwhile wait for the retry, so a refusal is not repeated at
        // every change.
        this.dirty = false;
        this.schedule(retryMs);
      } else if (this.dirty) {
        this.dirty = false;
        this.collect();
      }
    });
  }

  private retry(): void {
    this.failures++;
    this.retryDelayMs = Math.min(
      this.windowMs * 2 ** this.failures,
      this.options.retryMaxMs ?? 300_000,
    );
  }

  private async flush(): Promise<void> {
    if (!this.options.synced()) {
      // An upload from a partial list would remove the accounts of resources not listed yet.
      this.logger.debug('informer not synced; upload postponed');
      this.dirty = true;
      return;
    }
    const connection = this.options.connection();
    if (!connection) {
      this.dirty = true;
      return;
    }
    const waking = [...this.waiting.entries()];
    this.waiting.clear();
    try {
      await this.upload(connection, waking);
    } catch (error) {
      const failure = classifyFailure(error);
      const reason = failure.kind === 'conflict' ? 'Conflict' : failure.reason;
      this.logger.warn({ err: describeError(error), reason }, 'account file upload failed');
      const message =
        failure.kind === 'conflict' ? 'a Kubernetes write conflicted' : failure.message;
      await this.report({ kind: 'failed', reason, message });
      for (const [uid, key] of waking) this.waiting.set(uid, key);
      this.retry();
    } finally {
      this.inFlight = new Set();
    }
  }

  private async upload(
    connection: TenantConnection,
    waking: ReadonlyArray<[string, string]>,
  ): Promise<void> {
    // The schema is read from ISC before the first upload, then trusted for the cache period.
    if (!this.schemaRead) connection.setup.invalidate();
    const { source, accountSchema, identityProfile } = await connection.setup.ensure();
    this.schemaRead = true;
    const columns = accountFileColumns(accountSchema);
    if (typeof columns === 'string') {
      this.schemaRead = false;
      const message =
        `uploads to source "${source.name}" stopped: ${columns}. Fix the schema in ISC; ` +
        'the operator reads it again before each retry';
      this.logger.error({ sourceId: source.id }, message);
      await this.report({ kind: 'refused', reason: 'SchemaMismatch', message });
      for (const [uid, key] of waking) this.waiting.set(uid, key);
      this.retry();
      return;
    }

    const accounts: Account[] = [];
    for await (const account of connection.api.list<Account>('accounts', '', {
      filters: eq('sourceId', source.id),
      sorters: 'id',
    })) {
      accounts.push(account);
    }
    const plan = planAccountFile({
      columns,
      resources: this.options.resources(),
      accounts,
      claimed: this.claimed,
    });
    const changes = plan.created.length + plan.updated.length + plan.removed.length;
    const keys = waking.map(([, key]) => key);
    if (changes === 0) {
      this.markLanded(plan.included);
      this.failures = 0;
      await this.report({ kind: 'unchanged', rows: plan.rows.length });
      this.snapshot = undefined;
      this.options.wake(keys);
      return;
    }

    const text = renderAccountsCsv(columns, plan.rows);
    const unsafe = unsafeUploadReason({
      text,
      accounts,
      ownedRemovals: plan.ownedRemovals,
      maxPercent: this.maxDeletePercent,
    });
    if (unsafe) {
      this.logger.error({ sourceId: source.id, removed: plan.removed.length }, unsafe);
      await this.report({ kind: 'refused', reason: 'UnsafeUpload', message: unsafe });
      for (const [uid, key] of waking) this.waiting.set(uid, key);
      this.retry();
      return;
    }

    this.inFlight = new Set(plan.included.keys());
    const sha256 = createHash('sha256').update(text).digest('hex');
    this.logger.info(
      {
        sourceId: source.id,
        rows: plan.rows.length,
        created: plan.created.length,
        updated: plan.updated.length,
        removed: plan.removed.length,
        sha256,
      },
      'uploading account file',
    );
    const task = await connection.api.loadAccounts(source.id, text, { disableOptimization: true });
    const status = await connection.api.waitForTask(task.id, { initialDelayMs: 250 });
    const result = status.completionStatus ?? 'SUCCESS';
    const message = taskMessage(status);
    const time = new Date().toISOString();
    const landed = result === 'SUCCESS' || result === 'WARNING';
    // A WARNING can mean that ISC skipped the removals because they exceed the source's
    // deleteThreshold, so a batch with removals is tried again until they are gone.
    // NOTE: the emulator reports skipped removals this way; ISC's documentation does not say
    // how a real tenant reports them.
    const removalsUncertain = result === 'WARNING' && plan.removed.length > 0;
    if (landed) {
      this.markLanded(plan.included);
      this.failures = 0;
      // One identity processing run covers every account of the batch. If it fails, the
      // reconciles that wait for their identities request it again.
      try {
        await connection.api.processIdentityProfile(identityProfile.id);
        connection.setup.noteIdentityProcessing();
      } catch (error) {
        this.logger.warn({ err: describeError(error) }, 'identity processing after upload failed');
      }
    }
    const counts = taskCounts(status);
    await this.report({
      kind: 'uploaded',
      text,
      sha256,
      rows: plan.rows.length,
      taskId: task.id,
      result,
      message,
      ...(counts
        ? { ...counts, countsFrom: 'task' }
        : {
            created: plan.created.length,
            updated: plan.updated.length,
            removed: plan.removed.length,
            countsFrom: 'diff',
          }),
      plannedRemovals: plan.removed.length,
      time,
    });
    this.snapshot = undefined;
    // A failed task may mean the schema changed in ISC: read it again before the retry.
    if (!landed) this.schemaRead = false;
    if (!landed || removalsUncertain) {
      for (const [uid, key] of waking) this.waiting.set(uid, key);
      this.retry();
      return;
    }
    this.options.wake(keys);
  }

  /** Passes a report on; a failure to record it is logged and does not undo the batch. */
  private async report(report: BatchReport): Promise<void> {
    // Mirrors the Tenant's Stalled condition that the report sets or clears. A failed upload
    // call leaves it as it was.
    if (report.kind === 'refused') this.stall = report.reason;
    else if (report.kind === 'unchanged') this.stall = undefined;
    else if (report.kind === 'uploaded') {
      if (report.result === 'SUCCESS') this.stall = undefined;
      else this.stall = report.result === 'WARNING' ? 'UploadWarning' : 'UploadFailed';
    }
    try {
      await this.options.report(report);
    } catch (error) {
      this.logger.warn({ err: describeError(error), kind: report.kind }, 'batch report failed');
    }
  }

  private markLanded(included: ReadonlyMap<string, number>): void {
    const now = Date.now();
    for (const [uid, generation] of included) this.landed.set(uid, { generation, at: now });
  }
}

function taskMessage(status: TaskStatus): string {
  const texts = (status.messages ?? [])
    .map((entry) => entry.localizedText?.message ?? entry.key ?? '')
    .filter(Boolean);
  return texts.join('; ');
}

/**
 * Reads the created, updated and deleted counts from a load-accounts task's result attributes,
 * or returns undefined unless the task reports all three. ISC lists the result attributes in
 * `returns` and keeps their values in `attributes`.
 */
export function taskCounts(
  status: TaskStatus,
): { created: number; updated: number; removed: number } | undefined {
  const attributes = status.attributes ?? {};
  const declared = new Set((status.returns ?? []).map((entry) => entry.attributeName));
  const count = (name: string): number | undefined => {
    if (declared.size > 0 && !declared.has(name)) return undefined;
    const value = attributes[name];
    const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    return typeof number === 'number' && Number.isInteger(number) && number >= 0
      ? number
      : undefined;
  };
  const created = count('created');
  const updated = count('updated');
  const removed = count('deleted');
  if (created === undefined || updated === undefined || removed === undefined) return undefined;
  return { created, updated, removed };
}
