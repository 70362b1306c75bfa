import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BatchReport } from '../../src/controller/csv-batcher.ts';
import { statusAfterUpload, uploadSummary } from '../../src/controller/csv-report.ts';

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

test('lastUpload keeps the task counts', () => {
  const report = uploaded({
    result: 'WARNING',
    message: 'delete phase skipped',
    plannedRemovals: 4,
  });
  const status = statusAfterUpload({}, report, undefined, 1, now);
  assert.is(status.lastUpload?.removed, 0);
  assert.is(status.lastUpload?.countsFrom, 'task');
  const stalled = status.conditions?.find((condition) => condition.type === 'Stalled');
  assert.match(stalled?.message ?? '', /deleteThreshold/);
});

test('summary names the count source', () => {
  const fromTask = uploadSummary(uploaded({ result: 'WARNING', plannedRemovals: 4 }));
  assert.match(fromTask, /0 removed \(counts from ISC's task\)/);
  const fromDiff = uploadSummary(uploaded({ countsFrom: 'diff', removed: 4 }));
  assert.match(fromDiff, /4 removed \(ISC's task reported no counts/);
});

test.run();
