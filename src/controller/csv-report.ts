// Reporting of csv-mode batches: the Tenant's status and Events, the ConfigMap that keeps the
// uploaded file, and the metrics.

import { gzipSync } from 'node:zlib';
import {
  ApiException,
  CoreV1Api,
  type KubeConfig,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeError } from '../errors.ts';
import { isConflict, TenantResources } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { Condition, TenantStatus } from '../kube/types.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { findCondition, setCondition } from './conditions.ts';
import type { BatchReport } from './csv-batcher.ts';

/** ConfigMap data stays below Kubernetes' 1 MiB object limit with room for metadata. */
const maxStoredBytes = 900 * 1024;

/** Name of the ConfigMap that keeps a tenant's last uploaded account file. */
export function uploadedFileConfigMapName(tenant: string): string {
  return `isc-sa-operator-csv-${tenant}`.slice(0, 253);
}

/** Key in binaryData of the gzipped account file. */
export const uploadedFileKey = 'accounts.csv.gz';

export class CsvUploadReporter {
  private readonly tenants: TenantResources;
  private readonly core: CoreV1Api;
  private readonly events: EventRecorder;
  private readonly metrics: OperatorMetrics | undefined;
  private readonly logger: Logger;

  constructor(
    kubeConfig: KubeConfig,
    events: EventRecorder,
    metrics: OperatorMetrics | undefined,
    logger: Logger,
  ) {
    this.tenants = new TenantResources(kubeConfig);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.events = events;
    this.metrics = metrics;
    this.logger = logger;
  }

  /**
   * Records one batch. `fileNamespace` is where the uploaded file is kept (the namespace of the
   * Tenant's credentials Secret), undefined for a tenant configured by environment variables.
   */
  async report(
    tenantName: string,
    fileNamespace: string | undefined,
    report: BatchReport,
  ): Promise<void> {
    switch (report.kind) {
      case 'unchanged':
        await this.updateTenant(tenantName, (status) => withoutStalled(status, new Date()));
        return;
      case 'failed':
        this.metrics?.csvUpload(tenantName, 'failed');
        await this.event(tenantName, 'Warning', 'UploadFailed', report.message);
        return;
      case 'refused':
        this.metrics?.csvUpload(tenantName, report.reason);
        await this.updateTenant(tenantName, (status, generation) =>
          withStalled(status, report.reason, report.message, generation, new Date()),
        );
        await this.event(tenantName, 'Warning', report.reason, report.message);
        return;
      case 'uploaded':
        await this.uploaded(tenantName, fileNamespace, report);
    }
  }

  private async uploaded(
    tenantName: string,
    fileNamespace: string | undefined,
    report: Extract<BatchReport, { kind: 'uploaded' }>,
  ): Promise<void> {
    const changed = report.created + report.updated + report.removed;
    this.metrics?.csvUpload(tenantName, report.result, report.rows, changed);
    const keptFile = fileNamespace
      ? await this.keepFile(tenantName, fileNamespace, report)
      : { configMap: null, fileNotKept: null };
    const failed = report.result !== 'SUCCESS';
    await this.updateTenant(tenantName, (status, generation) =>
      statusAfterUpload(status, report, keptFile, generation, new Date()),
    );
    const summary = uploadSummary(report);
    await this.event(tenantName, failed ? 'Warning' : 'Normal', 'UploadedAccounts', summary);
  }

  /**
   * Keeps the uploaded file, gzipped, in a ConfigMap, so a person can see exactly what was sent.
   * A file too large for a ConfigMap is replaced by its hash and a note. Returns the ConfigMap's
   * namespace/name only when it now contains this file, else why the file is not kept. A failed
   * write is logged and does not affect the upload.
   */
  private async keepFile(
    tenantName: string,
    namespace: string,
    report: Extract<BatchReport, { kind: 'uploaded' }>,
  ): Promise<KeptFile> {
    const name = uploadedFileConfigMapName(tenantName);
    const gzipped = gzipSync(Buffer.from(report.text, 'utf8'));
    const fits = gzipped.length <= maxStoredBytes;
    const body: V1ConfigMap = {
      metadata: {
        name,
        namespace,
        labels: { 'app.kubernetes.io/managed-by': 'isc-sa-operator' },
      },
      data: {
        tenant: tenantName,
        uploadedAt: report.time,
        taskId: report.taskId,
        rows: String(report.rows),
        sha256: report.sha256,
        ...(fits
          ? {}
          : { note: `the gzipped file (${gzipped.length} bytes) exceeds ${maxStoredBytes} bytes` }),
      },
      ...(fits ? { binaryData: { [uploadedFileKey]: gzipped.toString('base64') } } : {}),
    };
    try {
      try {
        await this.core.replaceNamespacedConfigMap({ name, namespace, body });
      } catch (error) {
        if (!(error instanceof ApiException && error.code === 404)) throw error;
        await this.core.createNamespacedConfigMap({ namespace, body });
      }
    } catch (error) {
      this.logger.warn(
        { err: describeError(error), namespace, name },
        'keeping the uploaded account file failed',
      );
      const hint =
        error instanceof ApiException && error.code === 403
          ? '; grant the operator access to ConfigMaps in that namespace (the Helm chart ' +
            'does with csvSync.keepUploadedFile=true)'
          : '';
      return {
        configMap: null,
        fileNotKept: `writing ConfigMap ${namespace}/${name} failed: ${describeError(error)}${hint}`,
      };
    }
    if (!fits) {
      return {
        configMap: null,
        fileNotKept:
          `the gzipped file (${gzipped.length} bytes) exceeds ${maxStoredBytes} bytes, so ` +
          `ConfigMap ${namespace}/${name} contains only its SHA-256`,
      };
    }
    return { configMap: `${namespace}/${name}`, fileNotKept: null };
  }

  /** Applies `change` to the Tenant's current status, retrying on write conflicts. */
  private async updateTenant(
    name: string,
    change: (status: TenantStatus, generation: number | undefined) => TenantStatus,
  ): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      // A tenant configured by environment variables has no resource to write to.
      const tenant = await this.tenants.find(name);
      if (!tenant) return;
      const current = tenant.status ?? {};
      const next = change(current, tenant.metadata.generation);
      if (JSON.stringify(next) === JSON.stringify(current)) return;
      try {
        await this.tenants.patchStatus(tenant, next);
        return;
      } catch (error) {
        if (!isConflict(error)) {
          this.logger.warn(
            { err: describeError(error), tenant: name },
            'Tenant status update failed',
          );
          return;
        }
      }
    }
  }

  private async event(
    tenantName: string,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const tenant = await this.tenants.find(tenantName);
    if (tenant) await this.events.record(tenant, { type, reason, message });
  }
}

type UploadedReport = Extract<BatchReport, { kind: 'uploaded' }>;

/**
 * Location of the uploaded file. `configMap` is set only when that ConfigMap contains this
 * upload's file, else `fileNotKept` gives the reason. null removes an earlier upload's value,
 * because the status is merge-patched.
 */
export interface KeptFile {
  configMap: string | null;
  fileNotKept: string | null;
}

/** Returns the Tenant status after an upload: its lastUpload, and Stalled unless ISC's task succeeded. */
export function statusAfterUpload(
  status: TenantStatus,
  report: UploadedReport,
  keptFile: KeptFile,
  generation: number | undefined,
  now: Date,
): TenantStatus {
  const lastUpload = {
    time: report.time,
    rows: report.rows,
    taskId: report.taskId,
    result: report.result,
    // The status is merge-patched, so a message left by an earlier upload goes only with null.
    message: report.message ? report.message.slice(0, 4096) : null,
    created: report.created,
    updated: report.updated,
    removed: report.removed,
    countsFrom: report.countsFrom,
    sha256: report.sha256,
    configMap: keptFile.configMap,
    fileNotKept: keptFile.fileNotKept,
  };
  const next = { ...status, lastUpload };
  if (report.result === 'SUCCESS') return withoutStalled(next, now);
  const reason = report.result === 'WARNING' ? 'UploadWarning' : 'UploadFailed';
  const message =
    `ISC's task ${report.taskId} ended with ${report.result}: ${report.message}` +
    (report.result === 'WARNING' && report.plannedRemovals > 0
      ? ". If ISC skipped the removals because of the source's deleteThreshold, raise " +
        'it in ISC; the upload is retried'
      : '');
  return withStalled(next, reason, message, generation, now);
}

/**
 * Returns the status with Stalled=True and Ready=False, both with the given reason and message,
 * because kstatus readers take a Ready=True beside Stalled=True as a contradiction.
 */
export function withStalled(
  status: TenantStatus,
  reason: string,
  message: string,
  generation: number | undefined,
  now: Date,
): TenantStatus {
  const stalled = setCondition(
    status.conditions,
    { type: 'Stalled', status: 'True', reason, message },
    generation,
    now,
  );
  return {
    ...status,
    conditions: setCondition(
      stalled,
      { type: 'Ready', status: 'False', reason, message },
      generation,
      now,
    ),
  };
}

/** Returns the text of the UploadedAccounts Event, which names where its counts come from. */
export function uploadSummary(report: UploadedReport): string {
  const source =
    report.countsFrom === 'task'
      ? "counts from ISC's task"
      : "ISC's task reported no counts, so these are the operator's planned changes";
  return (
    `uploaded ${report.rows} rows (task ${report.taskId}, ${report.result}): ` +
    `${report.created} created, ${report.updated} updated, ${report.removed} removed (${source})`
  );
}

/**
 * Returns the status without Stalled. A Ready=False that the stall set (same reason) turns True
 * again, since an upload landed; a Ready=False with another reason came from the tenant check
 * and stays.
 */
export function withoutStalled(status: TenantStatus, now: Date): TenantStatus {
  const stalled = findCondition(status.conditions, 'Stalled');
  if (!stalled) return status;
  const conditions = (status.conditions ?? []).filter(
    (condition: Condition) => condition.type !== 'Stalled',
  );
  const ready = findCondition(conditions, 'Ready');
  if (ready?.status !== 'False' || ready.reason !== stalled.reason) {
    return { ...status, conditions };
  }
  return {
    ...status,
    conditions: setCondition(
      conditions,
      {
        type: 'Ready',
        status: 'True',
        reason: 'Connected',
        message: 'connected; the last account file upload landed',
      },
      ready.observedGeneration,
      now,
    ),
  };
}
