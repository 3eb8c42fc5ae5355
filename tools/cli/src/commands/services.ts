import { fileURLToPath } from 'node:url';
import { SERVICES, type ServiceName } from '@tickvault/config';

export { SERVICES, type ServiceName } from '@tickvault/config';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** Set by the build (tools/build/build.mjs): this CLI is dist/cli.js, and the services beside it are JavaScript too. */
export const BUILT = process.env.TICKVAULT_BUILT === '1';

/** A process's entry: dist/<name>.js in a built CLI, its TypeScript source otherwise. */
export function processEntry(name: string, sourceEntry: string): string {
  return fileURLToPath(new URL(BUILT ? `../../../../dist/${name}.js` : `../../../../${sourceEntry}`, import.meta.url));
}

export function serviceEntry(name: ServiceName): string {
  return processEntry(name, SERVICES[name].entry);
}

/** Node's arguments to run an entry: built JavaScript as it is, TypeScript through tsx (in this process, no extra parent). */
export function nodeArgs(entry: string): string[] {
  return entry.endsWith('.js') ? [entry] : ['--import', 'tsx', entry];
}

export function isServiceName(name: string | undefined): name is ServiceName {
  return name !== undefined && name in SERVICES;
}
