import { runCommandLine } from './cli.js';
import { commands } from './commands/index.js';

// `tickvault report | head` closes the pipe early; that is the reader being done, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await runCommandLine(process.argv.slice(2), commands);
