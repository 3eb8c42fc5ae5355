import { fileURLToPath } from 'node:url';

/** Every long-running service and the entry point that runs it. */
export const SERVICES = {
  writer: 'apps/writer/src/main.ts',
  'ingest-crypto': 'apps/ingest-crypto/src/main.ts',
  'ingest-stock': 'apps/ingest-stock/src/main.ts',
  'ingest-macro': 'apps/ingest-macro/src/main.ts',
} as const;
export type ServiceName = keyof typeof SERVICES;

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export function serviceEntry(name: ServiceName): string {
  return fileURLToPath(new URL(`../../../../${SERVICES[name]}`, import.meta.url));
}

export function isServiceName(name: string | undefined): name is ServiceName {
  return name !== undefined && name in SERVICES;
}
