import { readFile, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import type { CertificateFiles } from './certificates.ts';

/** Options for writeKubeconfig. */
export interface KubeconfigOptions {
  path: string;
  server: string;
  caCertificatePath: string;
  client: CertificateFiles;
  /** Name used for the cluster, user and context entries. */
  name: string;
}

/**
 * Writes a kubeconfig that authenticates with a client certificate. The certificates are
 * embedded, so the file stays usable when copied elsewhere while the cluster runs.
 */
export async function writeKubeconfig(options: KubeconfigOptions): Promise<void> {
  const base64 = async (path: string): Promise<string> => (await readFile(path)).toString('base64');

  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: options.name,
        cluster: {
          server: options.server,
          'certificate-authority-data': await base64(options.caCertificatePath),
        },
      },
    ],
    users: [
      {
        name: options.name,
        user: {
          'client-certificate-data': await base64(options.client.certificate),
          'client-key-data': await base64(options.client.key),
        },
      },
    ],
    contexts: [{ name: options.name, context: { cluster: options.name, user: options.name } }],
    'current-context': options.name,
  };
  await writeFile(options.path, stringify(kubeconfig), { mode: 0o600 });
}
