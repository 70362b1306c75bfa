/**
 * The demo in a temporary folder: --no-operator leaves the examples to an operator the user
 * starts, and a second demo in the same folder stops at the lock without touching the first.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runDemo } from '../../src/cli/demo.ts';
import { DemoLockedError, demoLockFile } from '../../src/cli/demo-lock.ts';
import { readConfig } from '../../src/config.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import {
  group,
  type ServiceAccount,
  serviceAccountPlural,
  tenantPlural,
  version,
} from '../../src/kube/types.ts';
import { type RunningOperator, startOperator } from '../../src/operator.ts';
import { waitFor } from '../support/wait.ts';

let folder: string;
let operator: RunningOperator | undefined;

test.before(async () => {
  folder = await mkdtemp(join(tmpdir(), 'cli-demo-'));
});

test.after(async () => {
  await operator?.stop();
  await rm(folder, { recursive: true, force: true });
});

test('demo without operator and its lock', async () => {
  const demo = runDemo(['--no-operator', '--exit-when-ready'], { directory: folder });
  const kubeconfigPath = join(folder, 'cluster', 'kubeconfig');
  const failedEarly = demo.then(
    (code) => new Error(`the demo ended with ${code} before its examples were applied`),
    (error: unknown) => error,
  );
  const api = await waitFor(
    'the demo to apply the examples',
    async () => {
      if (!existsSync(kubeconfigPath)) return undefined;
      const customObjects = loadKubeConfig(kubeconfigPath).makeApiClient(CustomObjectsApi);
      const list = (await customObjects.listClusterCustomObject({
        group,
        version,
        plural: serviceAccountPlural,
      })) as { items: ServiceAccount[] };
      return list.items.length === 3 ? customObjects : undefined;
    },
    300_000,
  ).catch(async (error: unknown) => {
    throw (await Promise.race([failedEarly, sleep(100, error)])) as Error;
  });

  const second = await runDemo([], { directory: folder }).catch((error: unknown) => error);
  assert.instance(second, DemoLockedError);
  assert.match((second as Error).message, `another demo (pid ${process.pid}) is running`);
  assert.ok(existsSync(kubeconfigPath), 'the second demo removed the first one’s cluster');

  await api.getClusterCustomObject({ group, version, plural: tenantPlural, name: 'default' });
  // An operator adds its finalizer on the first reconcile; without one nothing changes.
  await sleep(3_000);
  const untouched = (await api.listClusterCustomObject({
    group,
    version,
    plural: serviceAccountPlural,
  })) as { items: ServiceAccount[] };
  for (const resource of untouched.items) {
    assert.is(resource.metadata.finalizers, undefined, resource.metadata.name);
    assert.is(resource.status, undefined, resource.metadata.name);
  }
  assert.not.ok(existsSync(join(folder, 'operator.log')), 'the demo wrote an operator log');

  operator = await startOperator(
    readConfig({
      ISC_IDENTITY_PROCESSING_INTERVAL_SECONDS: '1',
      OPERATOR_METRICS_ADDRESS: 'off',
      OPERATOR_LEADER_ELECTION: 'false',
    }),
    loadKubeConfig(kubeconfigPath),
    pino({ level: 'silent' }),
    { waitInitialMs: 500, waitMaxMs: 2_000 },
  );
  assert.is(await demo, 0);
  assert.not.ok(existsSync(join(folder, demoLockFile)), 'the demo left its lock behind');
});

test.run();
