import { commands, usage } from './commands/index.js';

// `tickvault report | head` closes the pipe early; that is the reader being done, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

const [name, ...args] = process.argv.slice(2);
const command = name ? commands[name] : undefined;
if (!command) {
  process.stderr.write(name && name !== 'help' && name !== '--help' ? `unknown command "${name}"\n\n${usage()}` : usage());
  process.exit(name && name !== 'help' && name !== '--help' ? 2 : 0);
}
process.exitCode = await command.run(args);
