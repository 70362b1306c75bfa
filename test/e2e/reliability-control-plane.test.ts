/**
 * Control-plane faults under load. The operator talks to kube-apiserver through a proxy on
 * 127.0.0.1 that can cut, stall and hold back watch streams. kube-apiserver runs without its
 * watch cache and compacts etcd every 2 s, so a watch that resumes from a resourceVersion a few
 * seconds old gets a real 410 Gone. While resources are created, updated and deleted, the test
 * cuts the watches, stalls them, and holds them back until a resume gets 410. Then a competing
 * writer changes every resource, so the operator's status and finalizer writes, which carry a
 * resourceVersion, meet real 409 conflicts. Last, kube-apiserver restarts. The same operator
 * process must bring every resource to Ready at its last generation, with no duplicate and no
 * lost update.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ApiProxy, startApiProxy } from '../support/api-proxy.ts';
import type { OperatorProcess } from '../support/operator-process.ts';
import {
  accountsOnSource,
  condition,
  createResource,
  createTaskIds,
  deleteResource,
  duplicates,
  isConverged,
  listResources,
  patchResource,
  type ReliabilityEnv,
  startReliabilityEnv,
} from '../support/reliability-env.ts';
import { assertNoIssuedSecretLeaked } from '../support/secret-scan.ts';
import { waitFor } from '../support/wait.ts';

const namespace = 'control-plane';
const resourceCount = 16;
const deletedNames = ['cp-1', 'cp-6', 'cp-11'];
const seed = 1_337;

let env: ReliabilityEnv;
let proxy: ApiProxy;
let operator: OperatorProcess;

test.before(async () => {
  env = await startReliabilityEnv(
    'control',
    { seed },
    { apiServerFlags: ['--watch-cache=false', '--etcd-compaction-interval=2s'] },
  );
  await env.core.createNamespace({ body: { metadata: { name: namespace } } });
  proxy = await startApiProxy(
    env.cluster.directory,
    env.cluster.server,
    env.operatorKubeconfigPath,
  );
  // The resync relists every 30 s; most recoveries below must come from the watch handling.
  operator = env.startOperator({ KUBECONFIG: proxy.kubeconfigPath, OPERATOR_RESYNC_SECONDS: '30' });
});

test.after(async () => {
  await proxy?.close();
  await env?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const names = Array.from({ length: resourceCount }, (_, index) => `cp-${index}`);

/**
 * Changes a purpose every 250 ms until `stop()` is called. Writes fail while kube-apiserver
 * restarts; the final check compares ISC with what the API server stored, so a failed write
 * only means one update fewer.
 */
function startUpdates(): { stop(): Promise<number> } {
  let running = true;
  let updates = 0;
  const loop = (async () => {
    for (let round = 0; running; round++) {
      const name = names[round % names.length]!;
      if (!deletedNames.includes(name)) {
        try {
          await patchResource(env.customObjects, namespace, name, [
            { op: 'replace', path: '/spec/purpose', value: `Update ${round} of ${name}` },
          ]);
          updates++;
        } catch {
          // The API server is restarting; the next round tries again.
        }
      }
      await sleep(250);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return updates;
    },
  };
}

/** Sets a label on one resource without a resourceVersion, so that it always lands. */
async function relabel(name: string, value: string): Promise<void> {
  await env.customObjects.patchNamespacedCustomObject({
    group: 'isc.sailpoint',
    version: 'v1alpha1',
    namespace,
    plural: 'serviceaccounts',
    name,
    body: [{ op: 'add', path: '/metadata/labels', value: { 'competing-writer': value } }],
  });
}

/** Labels each of `targets` again and again until stopped. */
function startCompetingWriter(targets: readonly string[]): { stop(): Promise<number> } {
  let running = true;
  let writes = 0;
  const loop = (async () => {
    for (let round = 0; running; round++) {
      for (const name of targets) {
        try {
          await relabel(name, String(round));
          writes++;
        } catch {
          // Deleted meanwhile, or the API server restarts.
        }
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return writes;
    },
  };
}

/**
 * Changes the target of the operator's first status PATCH, and of the first finalizer PATCH
 * for each deleted resource, just before the proxy forwards it. The PATCH carries the
 * resourceVersion the operator read, so kube-apiserver rejects it with a real 409. The writers
 * running beside it make conflicts likely, and this makes at least one of each kind certain.
 * It stays on until the deleted resources are gone, however late the operator removes
 * their finalizers.
 */
function forceConflicts(): void {
  const done = new Set<string>();
  proxy.beforePatch(async (call) => {
    const name = /\/serviceaccounts\/([^/]+)/.exec(call.path)?.[1];
    if (!name) return;
    let kind: string | undefined;
    if (call.path.endsWith('/status')) kind = 'status';
    else if (call.finalizerPatch && deletedNames.includes(name)) kind = `finalizer of ${name}`;
    if (!kind || done.has(kind)) return;
    done.add(kind);
    await relabel(name, 'before-operator-patch').catch(() => {
      // The resource was deleted meanwhile. The writers still make conflicts likely.
    });
  });
}

let updatesSent = 0;
let watchesCut = 0;
let watchesStalled = 0;

test('operator recovers from control-plane faults', async () => {
  for (const [index, name] of names.entries()) {
    await createResource(env.customObjects, namespace, name, {
      accountId: `CP-${index}`,
      email: `${name}@example.com`,
      purpose: `Created ${name}`,
    });
  }
  const updates = startUpdates();
  try {
    await sleep(3_000);

    // Cut: the watch ends with an error; the operator must start a new one.
    // The operator reconnects after a growing delay, and on a loaded machine its new watch
    // may take longer than one round to open, so this cuts until three were cut.
    let cut = 0;
    const cutDeadline = Date.now() + 60_000;
    while (cut < 3 && Date.now() < cutDeadline) {
      cut += proxy.cutWatches();
      await sleep(1_000);
    }
    await sleep(2_000);
    assert.ok(cut >= 3, `only ${cut} watch streams were cut in 60 s`);
    watchesCut = cut;

    // Stall: the connection stays open but delivers nothing.
    const stalled = await waitFor('an open watch to stall', async () => {
      const count = proxy.stallWatches();
      return count > 0 ? count : undefined;
    });
    watchesStalled = stalled;
    await sleep(5_000);

    // 410: new watches wait 8 s, well past two compactions, then resume from an old version.
    proxy.holdWatches(8_000);
    proxy.cutWatches();
    await waitFor('a resumed watch to get 410 Gone', async () =>
      proxy.goneEvents.length > 0 ? true : undefined,
    );
    proxy.release();

    // 409: a second writer changes each resource's labels, so the operator's writes guarded
    // by resourceVersion conflict. Deletions make the finalizer removal conflict too.
    // The resources being deleted get a writer of their own, so that one lands between the
    // operator's last read and its finalizer removal.
    const competitor = startCompetingWriter(names);
    const deletionCompetitor = startCompetingWriter(deletedNames);
    forceConflicts();
    try {
      for (const name of deletedNames) {
        await deleteResource(env.customObjects, namespace, name);
        await sleep(1_000);
      }
      await sleep(8_000);
    } finally {
      await competitor.stop();
      await deletionCompetitor.stop();
    }

    // Restart kube-apiserver while updates keep coming.
    await env.cluster.restartApiServer();
    await sleep(3_000);
  } finally {
    proxy.release();
    updatesSent = await updates.stop();
  }
  assert.ok(updatesSent > 50, `only ${updatesSent} updates were applied`);

  const remaining = names.filter((name) => !deletedNames.includes(name));
  let pending: string[] = [];
  const resources = await waitFor(
    'every remaining resource to converge and the deleted ones to go',
    async () => {
      const listed = await listResources(env.customObjects, namespace);
      pending = listed
        .filter(
          (resource) => deletedNames.includes(resource.metadata.name) || !isConverged(resource),
        )
        .map((resource) => `${resource.metadata.name}: ${condition(resource, 'Ready')?.reason}`);
      return pending.length === 0 ? listed : undefined;
    },
    120_000,
  )
    .catch((error: Error) => {
      throw new Error(`${error.message}; pending: ${pending.join(', ')}`);
    })
    .finally(() => proxy.beforePatch(undefined));
  assert.equal(resources.map((resource) => resource.metadata.name).sort(), [...remaining].sort());

  // No lost update: each account has the purpose the API server stored last.
  const accounts = accountsOnSource(env.emulator);
  for (const resource of resources) {
    const account = accounts.find((entry) => entry.nativeIdentity === resource.spec.accountId);
    assert.ok(account, `no account for ${resource.metadata.name}`);
    assert.is(account!.attributes.purpose, resource.spec.purpose, resource.metadata.name);
  }
  for (const name of deletedNames) {
    const accountId = `CP-${names.indexOf(name)}`;
    if (accounts.some((account) => account.nativeIdentity === accountId)) {
      const history = operator
        .output()
        .split('\n')
        .filter((line) => line.includes(`"name":"${name}"`))
        .map((line) => {
          const entry = JSON.parse(line) as Record<string, unknown>;
          return `${entry.time} ${entry.msg} ${entry.reason ?? ''} gen=${entry.generation}`;
        });
      const creates = createTaskIds(env.emulator).filter((id) => id === accountId).length;
      assert.unreachable(
        `account ${accountId} outlived its deleted resource; creates sent: ${creates}; ` +
          `operator log of ${name}:\n${history.join('\n')}`,
      );
    }
  }
  assert.is(accounts.length, remaining.length, 'accounts on the source');
  assert.equal(duplicates(createTaskIds(env.emulator)), {}, 'account ids created more than once');
  assert.is(operator.child.exitCode, null, `the operator exited:\n${operator.output()}`);
  assert.is(env.operators.length, 1, 'the operator was restarted');
});

test('faults reached the operator', () => {
  const conflicts = proxy.calls.filter((call) => call.method === 'PATCH' && call.status === 409);
  const statusConflicts = conflicts.filter((call) => call.path.endsWith('/status'));
  const finalizerConflicts = conflicts.filter((call) => call.finalizerPatch);
  assert.ok(statusConflicts.length > 0, 'no status update met a 409 conflict');
  assert.ok(finalizerConflicts.length > 0, 'no finalizer update met a 409 conflict');
  assert.ok(proxy.goneEvents.length > 0, 'no watch resumed into 410 Gone');
  const serviceAccountWatches = proxy.calls.filter(
    (call) => call.watch && call.path.includes('/serviceaccounts'),
  );
  assert.ok(serviceAccountWatches.length >= 6, 'the operator did not watch again after faults');
  assert.equal(env.emulator.contractViolations, []);
  const summary = {
    resources: resourceCount,
    updates: updatesSent,
    watchesCut,
    watchesStalled,
    gone410: proxy.goneEvents.length,
    statusConflicts: statusConflicts.length,
    finalizerConflicts: finalizerConflicts.length,
    apiServerRestarts: 1,
  };
  console.log(`control-plane summary: ${JSON.stringify(summary)}`);
});

test('no issued secret leaked', () => assertNoIssuedSecretLeaked(env));

test.run();
