import { join } from 'node:path';
import { runCommand } from './process.ts';

/** PEM file paths of one certificate and its private key. */
export interface CertificateFiles {
  certificate: string;
  key: string;
}

/** Files created by createClusterCertificates. */
export interface ClusterCertificates {
  /** CA that signed every certificate below, trusted by kube-apiserver for client certificates. */
  ca: CertificateFiles;
  /** Serving certificate of kube-apiserver. */
  apiServer: CertificateFiles;
  /** Serving certificate of kube-controller-manager's health endpoints. */
  controllerManagerServing: CertificateFiles;
  /** Client certificate for the admin kubeconfig: CN=envtest-admin, O=system:masters. */
  admin: CertificateFiles;
  /** Client certificate of kube-controller-manager: CN=system:kube-controller-manager. */
  controllerManager: CertificateFiles;
  /** Key pair that kube-apiserver signs service account tokens with. */
  serviceAccount: { privateKey: string; publicKey: string };
}

/**
 * Names the apiserver serving certificate covers: the loopback addresses it is reached at here,
 * and the in-cluster names of the kubernetes Service.
 */
const apiServerDnsNames = [
  'localhost',
  'kubernetes',
  'kubernetes.default',
  'kubernetes.default.svc',
  'kubernetes.default.svc.cluster.local',
];

/**
 * Creates a CA and the certificates and keys of a local control plane in directory, using
 * isc-envtest-helper (Go's crypto/x509). serviceClusterIp is the first address of the service
 * CIDR, which in-cluster clients use to reach the apiserver.
 */
export async function createClusterCertificates(
  helperPath: string,
  directory: string,
  serviceClusterIp: string,
): Promise<ClusterCertificates> {
  const loopbackAddresses = ['127.0.0.1', '::1'];
  const spec = {
    caCommonName: 'isc-sa-operator envtest CA',
    // Long enough for any test run or demo session, short enough to be obviously temporary.
    validHours: 7 * 24,
    certificates: [
      {
        name: 'apiserver',
        commonName: 'kube-apiserver',
        organizations: [],
        dnsNames: apiServerDnsNames,
        ipAddresses: [...loopbackAddresses, serviceClusterIp],
        usages: ['server'],
      },
      {
        name: 'controller-manager-serving',
        commonName: 'kube-controller-manager',
        organizations: [],
        dnsNames: ['localhost'],
        ipAddresses: loopbackAddresses,
        usages: ['server'],
      },
      {
        name: 'admin',
        commonName: 'envtest-admin',
        organizations: ['system:masters'],
        dnsNames: [],
        ipAddresses: [],
        usages: ['client'],
      },
      {
        name: 'controller-manager',
        commonName: 'system:kube-controller-manager',
        organizations: [],
        dnsNames: [],
        ipAddresses: [],
        usages: ['client'],
      },
    ],
    serviceAccountKeyName: 'service-account',
  };
  await runCommand(helperPath, ['certificates', directory], { input: JSON.stringify(spec) });

  const files = (name: string): CertificateFiles => ({
    certificate: join(directory, `${name}.crt`),
    key: join(directory, `${name}.key`),
  });
  return {
    ca: files('ca'),
    apiServer: files('apiserver'),
    controllerManagerServing: files('controller-manager-serving'),
    admin: files('admin'),
    controllerManager: files('controller-manager'),
    serviceAccount: {
      privateKey: join(directory, 'service-account.key'),
      publicKey: join(directory, 'service-account.pub'),
    },
  };
}
