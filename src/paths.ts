import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * Returns a path inside the project folder (the one with package.json and crds/), whether this
 * module runs from src/ or from the compiled dist/src/.
 */
export function projectPath(...segments: string[]): string {
  if (root === undefined) {
    let folder = dirname(fileURLToPath(import.meta.url));
    while (!(existsSync(join(folder, 'package.json')) && existsSync(join(folder, 'crds')))) {
      const parent = dirname(folder);
      if (parent === folder)
        throw new Error('project folder with package.json and crds/ not found');
      folder = parent;
    }
    root = folder;
  }
  return join(root, ...segments);
}
