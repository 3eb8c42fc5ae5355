import type { Command } from './command.js';
import { migrateCommand } from './migrate.js';
import { serviceCommand } from './service.js';

export const commands: Record<string, Command> = {
  migrate: migrateCommand,
  service: serviceCommand,
};

export function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return [
    'usage: npm run tickvault -- <command> [options]',
    '',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
  ].join('\n');
}
