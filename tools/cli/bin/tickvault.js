#!/usr/bin/env node
// The `tickvault` command (package.json "bin": `npx tickvault …` in the repository, `docker compose run
// --rm cli …`): registers tsx in this process and runs the TypeScript CLI, so signals and the exit code
// are the CLI's own, with no extra process in between.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

// The repository's tsconfig, wherever the command is run from (tsx would look in the working directory).
register({ tsconfig: fileURLToPath(new URL('../../../tsconfig.json', import.meta.url)) });
await import('../src/main.ts');
