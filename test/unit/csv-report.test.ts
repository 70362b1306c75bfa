import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BatchReport } from '../../src/controller/csv-batcher.ts';
import {
  statusAfterUpload,
  uploadSummary,
  withoutStalled,
  withStalled,
} from '../../src/controller/csv-report.ts';
import { readyCondition } from '../../src/controller/tenant-controller.ts';
import type { TenantStatus } from '../../src/kube/types.ts';

type UploadedReport = Extract<BatchReport, { kind: 'uploaded' }>;

function uploaded(extra: Partial<UploadedReport> = {}): UploadedReport {
  return {
    kind: 'uploaded',
    text: 'id,name\n',
    sha256: 'abc',
    rows: 9,
    taskId: 'task-1',
    result: 'SUCCESS',
    message: '',
    created: 0,
    updated: 9,
    removed: 0,
    countsFrom: 'task',
    plannedRemovals: 0,
    time: '2026-01-01T00:00:00.000Z',
    ...extra,
  };
}

const now = new Date('2026-01-01T00:00:00Z');
const notKept = { configMap: null, fileNotKept: null };

test('lastUpload keeps the task counts', () => {
  const report = uploaded({
    result: 'WARNING',
    message: 'delete phase skipped',
    plannedRemovals: 4,
  });
  const status = statusAfterUpload({}, report, notKept, 1, now);
  assert.is(status.lastUpload?.removed, 0);
  assert.is(status.lastUpload?.countsFrom, 'task');
  const stalled = status.conditions?.find((condition) => condition.type === 'Stalled');
  assert.match(stalled?.message ?? '', /deleteThreshold/);
});

test('lastUpload clears a stale ConfigMap', () => {
  const withConfigMap = statusAfterUpload(
    {},
    uploaded(),
    { configMap: 'isc-system/isc-sa-operator-csv-default', fileNotKept: null },
    1,
    now,
  );
  assert.is(withConfigMap.lastUpload?.configMap, 'isc-system/isc-sa-operator-csv-default');
  const failed = statusAfterUpload(
    withConfigMap,
    uploaded({ sha256: 'def' }),
    { configMap: null, fileNotKept: 'writing ConfigMap failed' },
    1,
    now,
  );
  // null, not a missing key: the status is merge-patched, which keeps keys it does not name.
  assert.is(failed.lastUpload?.configMap, null);
  assert.is(failed.lastUpload?.fileNotKept, 'writing ConfigMap failed');
});

test('summary names the count source', () => {
  const fromTask = uploadSummary(uploaded({ result: 'WARNING', plannedRemovals: 4 }));
  assert.match(fromTask, /0 removed \(counts from ISC's task\)/);
  const fromDiff = uploadSummary(uploaded({ countsFrom: 'diff', removed: 4 }));
  assert.match(fromDiff, /4 removed \(ISC's task reported no counts/);
});

function condition(status: TenantStatus, type: string) {
  return status.conditions?.find((entry) => entry.type === type);
}

const connected: TenantStatus = {
  conditions: [
    {
      type: 'Ready',
      status: 'True',
      reason: 'Connected',
      message: 'connected',
      lastTransitionTime: now.toISOString(),
    },
  ],
};

test('stalled upload sets Ready False', () => {
  for (const result of ['WARNING', 'ERROR']) {
    const status = statusAfterUpload(connected, uploaded({ result }), notKept, 1, now);
    const stalled = condition(status, 'Stalled');
    const ready = condition(status, 'Ready');
    assert.is(stalled?.status, 'True');
    assert.is(ready?.status, 'False', result);
    assert.is(ready?.reason, stalled?.reason);
    assert.is(ready?.message, stalled?.message);
  }
});

test('refused upload sets Ready False', () => {
  const status = withStalled(connected, 'UnsafeUpload', 'would remove 4 accounts', 1, now);
  assert.is(condition(status, 'Ready')?.status, 'False');
  assert.is(condition(status, 'Ready')?.reason, 'UnsafeUpload');
  assert.is(condition(status, 'Ready')?.message, 'would remove 4 accounts');
});

test('landed upload sets Ready True again', () => {
  const stalled = withStalled(connected, 'SchemaMismatch', 'multi-valued attribute', 1, now);
  const status = statusAfterUpload(stalled, uploaded(), notKept, 1, now);
  assert.is(condition(status, 'Stalled'), undefined);
  assert.is(condition(status, 'Ready')?.status, 'True');
  assert.is(condition(status, 'Ready')?.reason, 'Connected');
});

test('unstall keeps a tenant-check failure', () => {
  const stalled = withStalled(connected, 'UploadWarning', 'skipped', 1, now);
  const unauthorized: TenantStatus = {
    conditions: [
      ...(stalled.conditions ?? []).filter((entry) => entry.type !== 'Ready'),
      {
        type: 'Ready',
        status: 'False',
        reason: 'Unauthorized',
        message: 'the credentials were rejected',
        lastTransitionTime: now.toISOString(),
      },
    ],
  };
  const status = withoutStalled(unauthorized, now);
  assert.is(condition(status, 'Stalled'), undefined);
  assert.is(condition(status, 'Ready')?.reason, 'Unauthorized');
});

test('tenant check keeps Ready False while stalled', () => {
  const stalled = withStalled(connected, 'UnsafeUpload', 'would remove 4 accounts', 1, now);
  const check = { ready: true, reason: 'Connected', message: 'connected' };
  const ready = readyCondition(stalled, check);
  assert.is(ready.status, 'False');
  assert.is(ready.reason, 'UnsafeUpload');
  assert.is(ready.message, 'would remove 4 accounts');
  assert.is(readyCondition(connected, check).status, 'True');
  const failed = readyCondition(stalled, { ready: false, reason: 'Unauthorized', message: 'no' });
  assert.is(failed.reason, 'Unauthorized');
});

test.run();
