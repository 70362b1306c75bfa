import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ApiException,
  ApiextensionsV1Api,
  type KubeConfig,
  loadAllYaml,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { projectPath } from '../paths.ts';

/**
 * Reads every CustomResourceDefinition in the project's `crds/` folder into client-node's typed
 * models. A plain YAML object would lose `x-kubernetes-*` keys such as the CEL rules, because
 * the client serializes by the models' camel-case property names.
 */
export async function readCrds(): Promise<V1CustomResourceDefinition[]> {
  const folder = projectPath('crds');
  const files = (await readdir(folder)).filter((file) => /\.ya?ml$/.test(file)).sort();
  const crds: V1CustomResourceDefinition[] = [];
  for (const file of files) {
    for (const object of loadAllYaml(await readFile(join(folder, file), 'utf8'))) {
      const crd = object as V1CustomResourceDefinition | null;
      if (crd?.kind === 'CustomResourceDefinition') crds.push(crd);
    }
  }
  return crds;
}

/**
 * Creates or replaces the project's CRDs and waits until the API server serves them
 * (condition Established), so that resources can be applied right after.
 */
export async function installCrds(kubeConfig: KubeConfig, timeoutMs = 30_000): Promise<string[]> {
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  const names: string[] = [];
  for (const crd of await readCrds()) {
    const name = crd.metadata!.name!;
    try {
      const current = await api.readCustomResourceDefinition({ name });
      crd.metadata!.resourceVersion = current.metadata!.resourceVersion!;
      await api.replaceCustomResourceDefinition({ name, body: crd });
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 404)) throw error;
      await api.createCustomResourceDefinition({ body: crd });
    }
    names.push(name);
  }

  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name });
      const established = crd.status?.conditions?.some(
        (condition) => condition.type === 'Established' && condition.status === 'True',
      );
      if (established) break;
      if (Date.now() > deadline)
        throw new Error(`CRD ${name} not established after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return names;
}
