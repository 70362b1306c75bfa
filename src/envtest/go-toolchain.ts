import { runCommand } from './process.ts';

/** Returns the Go version that `go` selects in cwd (for example "go1.26.8"). */
export async function readGoVersion(cwd: string): Promise<string> {
  const { stdout } = await runCommand('go', ['env', 'GOVERSION'], { cwd });
  return stdout.trim();
}

/** Result of `go mod download -json MODULE@VERSION`, reduced to the fields used here. */
export interface DownloadedModule {
  Path: string;
  Version: string;
  /** Path of the module's go.mod file in the module cache. */
  GoMod: string;
  /** Directory of the extracted module source in the module cache. */
  Dir: string;
}

/** Downloads module@version through GOPROXY into the module cache and returns where it is. */
export async function downloadGoModule(
  cwd: string,
  module: string,
  version: string,
): Promise<DownloadedModule> {
  const { stdout } = await runCommand('go', ['mod', 'download', '-json', `${module}@${version}`], {
    cwd,
  });
  const downloaded = JSON.parse(stdout) as Partial<DownloadedModule> & { Error?: string };
  if (downloaded.Error !== undefined) {
    throw new Error(`go mod download ${module}@${version} failed: ${downloaded.Error}`);
  }
  if (downloaded.GoMod === undefined || downloaded.Dir === undefined) {
    throw new Error(`go mod download ${module}@${version} returned no GoMod or Dir: ${stdout}`);
  }
  return downloaded as DownloadedModule;
}
