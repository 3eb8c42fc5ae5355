import { fileURLToPath } from 'node:url';
import { SERVICES, type ServiceName } from '@tickvault/config';

export { SERVICES, type ServiceName } from '@tickvault/config';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export function serviceEntry(name: ServiceName): string {
  return fileURLToPath(new URL(`../../../../${SERVICES[name].entry}`, import.meta.url));
}

export function isServiceName(name: string | undefined): name is ServiceName {
  return name !== undefined && name in SERVICES;
}
