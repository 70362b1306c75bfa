import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadKubeConfig } from '../../src/kube/client.ts';

// Any PEM-looking text will do: undici reads the CA only when it connects.
const fakeCa = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');

function kubeconfigFile(caData: Buffer): string {
  const directory = mkdtempSync(join(tmpdir(), 'kube-connections-'));
  const path = join(directory, 'kubeconfig');
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: local',
      '  cluster:',
      '    server: https://127.0.0.1:6443',
      `    certificate-authority-data: ${caData.toString('base64')}`,
      'users:',
      '- name: operator',
      '  user:',
      '    token: not-a-real-token',
      'contexts:',
      '- name: local',
      '  context: {cluster: local, user: operator}',
      'current-context: local',
    ].join('\n'),
  );
  return path;
}

async function dispatcherOfOneRequest(config: ReturnType<typeof loadKubeConfig>) {
  const context = new RequestContext('https://127.0.0.1:6443/api/v1/namespaces', HttpMethod.GET);
  await config.applySecurityAuthentication(context);
  return { dispatcher: context.getDispatcher(), headers: context.getHeaders() };
}

test('API requests of one kubeconfig share one connection pool', async () => {
  const config = loadKubeConfig(kubeconfigFile(fakeCa));
  const first = await dispatcherOfOneRequest(config);
  const second = await dispatcherOfOneRequest(config);
  assert.ok(first.dispatcher, 'a TLS dispatcher is set for an https server with a CA');
  assert.is(second.dispatcher, first.dispatcher);
  // Credentials still travel per request, not in the shared pool.
  assert.is(second.headers.Authorization, 'Bearer not-a-real-token');
});

test('a changed CA gets a new connection pool', async () => {
  const path = kubeconfigFile(fakeCa);
  const config = loadKubeConfig(path);
  const before = await dispatcherOfOneRequest(config);
  const renewed = loadKubeConfig(kubeconfigFile(Buffer.concat([fakeCa, fakeCa])));
  // Same object, new TLS settings: the clusters of the renewed file replace the old ones.
  config.clusters = renewed.clusters;
  const after = await dispatcherOfOneRequest(config);
  assert.is.not(after.dispatcher, before.dispatcher);
});

test.run();
