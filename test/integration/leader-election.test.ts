import { CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type LocalCluster, startLocalCluster } from '../../src/envtest/index.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { LeaderElector } from '../../src/kube/leader.ts';

let cluster: LocalCluster;
let kubeConfig: KubeConfig;
const logger = pino({ level: 'silent' });

test.before(async () => {
  cluster = await startLocalCluster({ controllerManager: false });
  kubeConfig = loadKubeConfig(cluster.kubeconfigPath);
});

test.after(async () => {
  await cluster?.stop();
});

function elector(identity: string, leaseName: string): LeaderElector {
  return new LeaderElector({
    kubeConfig,
    namespace: 'default',
    leaseName,
    identity,
    leaseDurationSeconds: 2,
    retryPeriodMs: 200,
    logger,
  });
}

async function holder(leaseName: string): Promise<string | undefined> {
  const api = kubeConfig.makeApiClient(CoordinationV1Api);
  const lease = await api.readNamespacedLease({ namespace: 'default', name: leaseName });
  return lease.spec?.holderIdentity;
}

test('one of two candidates leads', async () => {
  const first = elector('first', 'lease-a');
  const second = elector('second', 'lease-a');
  await first.acquire(() => undefined);
  let secondLeads = false;
  const waiting = second
    .acquire(() => undefined)
    .then(() => {
      secondLeads = true;
    });

  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.is(await holder('lease-a'), 'first');
  assert.is(secondLeads, false, 'a second leader was elected while the first renewed');

  await first.release();
  await waiting;
  assert.is(await holder('lease-a'), 'second');
  await second.release();
});

test('expired lease is taken over', async () => {
  const crashed = elector('crashed', 'lease-b');
  await crashed.acquire(() => undefined);
  // Stop renewing without releasing, as a killed process would.
  (crashed as unknown as { stopped: boolean }).stopped = true;

  const successor = elector('successor', 'lease-b');
  await successor.acquire(() => undefined);
  assert.is(await holder('lease-b'), 'successor');
  await successor.release();
});

test('renewal keeps the lease past its duration', async () => {
  const leader = elector('steady', 'lease-c');
  let lost = false;
  await leader.acquire(() => {
    lost = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  assert.is(lost, false);
  assert.is(await holder('lease-c'), 'steady');
  assert.ok(leader.isLeader);
  await leader.release();
});

test.run();
