import {
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  ListWatch,
  type ObjectCache,
  Watch,
} from '@kubernetes/client-node';

export type CachedInformer<T extends { metadata?: { namespace?: string } }> = Informer<T> &
  ObjectCache<T>;

/**
 * Makes one informer over a resource in every namespace, or, when `namespaces` is given, one per
 * listed namespace behind the same interface, for installs whose RBAC grants only those.
 */
export function makeNamespacedInformer<T extends { metadata?: { namespace?: string } }>(
  kubeConfig: KubeConfig,
  resourcePath: { group: string; version: string; plural: string },
  list: (namespace: string | undefined) => Promise<KubernetesListObject<T>>,
  namespaces: readonly string[] | undefined,
): CachedInformer<T> {
  const { group, version, plural } = resourcePath;
  if (!namespaces || namespaces.length === 0) {
    return makeTrimmedInformer<T>(kubeConfig, `/apis/${group}/${version}/${plural}`, () =>
      list(undefined),
    );
  }
  const informers = new Map(
    namespaces.map((namespace) => [
      namespace,
      makeTrimmedInformer<T>(
        kubeConfig,
        `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
        () => list(namespace),
      ),
    ]),
  );
  const all = [...informers.values()];
  return {
    on: ((verb: never, callback: never) => {
      for (const informer of all) informer.on(verb, callback);
    }) as CachedInformer<T>['on'],
    off: ((verb: never, callback: never) => {
      for (const informer of all) informer.off(verb, callback);
    }) as CachedInformer<T>['off'],
    async start() {
      await Promise.all(all.map((informer) => informer.start()));
    },
    async stop() {
      await Promise.all(all.map((informer) => informer.stop()));
    },
    get(name: string, namespace?: string) {
      return namespace === undefined ? undefined : informers.get(namespace)?.get(name, namespace);
    },
    list(namespace?: string) {
      if (namespace !== undefined) return informers.get(namespace)?.list(namespace) ?? [];
      return all.flatMap((informer) => informer.list());
    },
  };
}

/**
 * Makes an informer whose cache contains objects without `metadata.managedFields`. The
 * operator never reads them, and they are about half of a ServiceAccount's JSON once its status
 * is written.
 */
function makeTrimmedInformer<T extends { metadata?: { namespace?: string } }>(
  kubeConfig: KubeConfig,
  path: string,
  list: () => Promise<KubernetesListObject<T>>,
): CachedInformer<T> {
  const watch = new Watch(kubeConfig);
  const trimmingWatch = {
    watch: (
      watchPath: string,
      query: Record<string, string | number | boolean | undefined>,
      callback: (phase: string, object: T, event: unknown) => void,
      done: (error: unknown) => void,
    ) =>
      watch.watch(
        watchPath,
        query,
        (phase, object, event) => callback(phase, withoutManagedFields(object as T), event),
        done,
      ),
  } as Watch;
  const trimmingList = async () => {
    const listed = await list();
    for (const item of listed.items) withoutManagedFields(item);
    return listed;
  };
  return new ListWatch<T & object>(path, trimmingWatch, trimmingList, false);
}

function withoutManagedFields<T>(object: T): T {
  const metadata = (object as { metadata?: { managedFields?: unknown } } | undefined)?.metadata;
  if (metadata) delete metadata.managedFields;
  return object;
}

/**
 * Starts an informer once and returns the error of its initial list, or undefined when it
 * listed and watches. client-node's start() resolves either way and reports the failure only
 * through the 'error' event.
 */
export async function startInformerOnce<T>(informer: Informer<T & object>): Promise<unknown> {
  let failure: unknown;
  const onError = (error: unknown) => {
    failure = error;
  };
  informer.on('error', onError);
  try {
    await informer.start();
  } finally {
    informer.off('error', onError);
  }
  return failure;
}
