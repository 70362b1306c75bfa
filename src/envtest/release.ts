/** Kubernetes release that the local test cluster is built from. */
export const kubernetesRelease = 'v1.37.2';

/**
 * Version of the k8s.io staging modules (k8s.io/api, k8s.io/client-go, ...) published with
 * kubernetesRelease: Kubernetes tags them v0.MINOR.PATCH for release v1.MINOR.PATCH.
 */
export const stagingModuleVersion = kubernetesRelease.replace(/^v1\./, 'v0.');
