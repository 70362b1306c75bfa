/**
 * A TLS proxy on 127.0.0.1 in front of the test cluster's kube-apiserver, for control-plane
 * fault tests. It presents the apiserver's own serving certificate, so a kubeconfig that trusts
 * the cluster's CA trusts the proxy too, and it forwards every request unchanged. Because it
 * terminates TLS, it can cut and stall watch streams, hold new watches back, and record each
 * response, including the 410 events inside watch streams.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

/** One request the proxy forwarded. */
export interface ProxiedCall {
  method: string;
  /** Path without the query. */
  path: string;
  watch: boolean;
  /** The query's resourceVersion, where a watch resumes. */
  resourceVersion: string | undefined;
  /** Response status, or 0 when the upstream request failed. */
  status: number;
  /** Set for a PATCH whose body changes metadata.finalizers. */
  finalizerPatch: boolean;
}

export interface ApiProxy {
  url: string;
  /** Copy of the given kubeconfig whose server is the proxy. */
  kubeconfigPath: string;
  calls: ProxiedCall[];
  /** ERROR events with code 410 seen inside watch streams, with the resumed resourceVersion. */
  goneEvents: Array<{ path: string; resourceVersion: string | undefined }>;
  /** Closes every open watch stream, as a broken connection would; returns how many. */
  cutWatches(): number;
  /**
   * Makes every open watch stream silent: the connection stays open but no further byte
   * reaches the client, as behind a load balancer that lost the flow. Returns how many.
   */
  stallWatches(): number;
  /** Delays each new watch request by `delayMs` before it is forwarded, until `release()`. */
  holdWatches(delayMs: number): void;
  /**
   * Runs `hook` before each PATCH is forwarded, until it is set to undefined. A test can use it
   * to change the object first, so that a PATCH guarded by resourceVersion gets a real 409.
   */
  beforePatch(hook: ((call: ProxiedCall) => Promise<void>) | undefined): void;
  release(): void;
  close(): Promise<void>;
}

interface OpenWatch {
  response: ServerResponse;
  stalled: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the proxy for the cluster whose files are in `clusterDirectory` and whose API server
 * is `upstream` (https://127.0.0.1:port), and writes a kubeconfig like `kubeconfigPath` that
 * points at the proxy.
 */
export async function startApiProxy(
  clusterDirectory: string,
  upstream: string,
  kubeconfigPath: string,
): Promise<ApiProxy> {
  const pki = join(clusterDirectory, 'pki');
  const [certificate, key, ca] = await Promise.all([
    readFile(join(pki, 'apiserver.crt')),
    readFile(join(pki, 'apiserver.key')),
    readFile(join(pki, 'ca.crt')),
  ]);
  const target = new URL(upstream);
  const calls: ProxiedCall[] = [];
  const goneEvents: ApiProxy['goneEvents'] = [];
  const openWatches = new Set<OpenWatch>();
  let watchDelayMs = 0;
  let patchHook: ((call: ProxiedCall) => Promise<void>) | undefined;

  const forward = async (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const url = new URL(incoming.url ?? '/', 'https://proxy');
    const watch = ['true', '1'].includes(url.searchParams.get('watch') ?? '');
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const call: ProxiedCall = {
      method: incoming.method ?? 'GET',
      path: url.pathname,
      watch,
      resourceVersion: url.searchParams.get('resourceVersion') ?? undefined,
      status: 0,
      finalizerPatch: incoming.method === 'PATCH' && body.includes('"finalizers"'),
    };
    calls.push(call);
    if (watch && watchDelayMs > 0) await sleep(watchDelayMs);
    if (call.method === 'PATCH' && patchHook) await patchHook(call);

    const upstreamRequest = httpsRequest(
      {
        host: target.hostname,
        port: target.port,
        method: incoming.method,
        path: incoming.url,
        headers: { ...incoming.headers, host: target.host },
        ca,
      },
      (upstreamResponse) => {
        call.status = upstreamResponse.statusCode ?? 0;
        outgoing.writeHead(call.status, upstreamResponse.headers);
        if (!watch) {
          upstreamResponse.pipe(outgoing);
          return;
        }
        const open: OpenWatch = { response: outgoing, stalled: false };
        openWatches.add(open);
        let pending = '';
        upstreamResponse.on('data', (chunk: Buffer) => {
          if (open.stalled) return;
          pending += chunk.toString();
          const lines = pending.split('\n');
          pending = lines.pop()!;
          for (const line of lines) {
            if (line.includes('"ERROR"') && line.includes('"code":410')) {
              goneEvents.push({ path: call.path, resourceVersion: call.resourceVersion });
            }
          }
          outgoing.write(chunk);
        });
        upstreamResponse.on('end', () => {
          openWatches.delete(open);
          if (!open.stalled) outgoing.end();
        });
        upstreamResponse.on('error', () => outgoing.destroy());
        outgoing.on('close', () => {
          openWatches.delete(open);
          upstreamResponse.destroy();
        });
      },
    );
    upstreamRequest.on('error', () => outgoing.destroy());
    upstreamRequest.end(body);
  };

  const server = createServer({ cert: certificate, key }, (incoming, outgoing) => {
    forward(incoming, outgoing).catch(() => outgoing.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;

  const kubeconfig = parse(await readFile(kubeconfigPath, 'utf8')) as {
    clusters: Array<{ cluster: { server: string } }>;
  };
  for (const entry of kubeconfig.clusters) entry.cluster.server = url;
  const proxyKubeconfigPath = `${kubeconfigPath}.proxy`;
  await writeFile(proxyKubeconfigPath, stringify(kubeconfig), { mode: 0o600 });

  return {
    url,
    kubeconfigPath: proxyKubeconfigPath,
    calls,
    goneEvents,
    cutWatches() {
      const count = openWatches.size;
      for (const open of openWatches) open.response.destroy();
      openWatches.clear();
      return count;
    },
    stallWatches() {
      let count = 0;
      for (const open of openWatches) {
        if (!open.stalled) count++;
        open.stalled = true;
      }
      return count;
    },
    holdWatches(delayMs) {
      watchDelayMs = delayMs;
    },
    beforePatch(hook) {
      patchHook = hook;
    },
    release() {
      watchDelayMs = 0;
    },
    async close() {
      for (const open of openWatches) open.response.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
