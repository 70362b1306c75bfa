export {
  type EnsureKubeBinariesOptions,
  ensureKubeBinaries,
  type KubeBinaries,
} from './binaries.ts';
export {
  defaultControllers,
  type LocalCluster,
  type LocalClusterOptions,
  startLocalCluster,
} from './cluster.ts';
export {
  type EnsureHelmOptions,
  ensureHelm,
  helmVersion,
  type RunHelmOptions,
  runHelm,
} from './helm.ts';
export { StartupError } from './probes.ts';
export { kubernetesRelease } from './release.ts';
