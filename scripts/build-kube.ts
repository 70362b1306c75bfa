// Builds (or finds in the cache) the Kubernetes control plane binaries used by the local test
// cluster and prints their paths. Usage: node scripts/build-kube.ts
import { ensureKubeBinaries } from '../src/envtest/binaries.ts';

const started = Date.now();
try {
  const binaries = await ensureKubeBinaries();
  const elapsedSeconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(
    [
      `release                  ${binaries.release}`,
      `directory                ${binaries.directory}`,
      `kube-apiserver           ${binaries.kubeApiserver}`,
      `kube-controller-manager  ${binaries.kubeControllerManager}`,
      `etcd                     ${binaries.etcd}`,
      `kubectl                  ${binaries.kubectl}`,
      `elapsed                  ${elapsedSeconds} s`,
      '',
    ].join('\n'),
  );
} catch (error) {
  process.stderr.write(`build-kube: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
