import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Secrets kept in files: Docker and Kubernetes secrets mounted as files, and credentials tickvault
 * generates on first start and keeps in a volume.
 */

/** A secret file's content without the line break editors and `echo` add at the end. */
export function readSecretFile(path: string): string {
  return readFileSync(path, 'utf8').replace(/(\r?\n)+$/, '');
}

/** 24 random bytes as base64url: 32 characters, 192 bits, safe in URLs and config files unquoted. */
export function generateSecret(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * The secret in `path`, or a new one from `generate` written there (mode 0600, its directory created
 * 0700) when the file does not exist. `created` tells the caller it is the first to know the value.
 * Two processes starting at once agree: the file appears whole or not at all (written aside, then
 * hard-linked into place, which fails if another got there first) and the loser reads the winner's.
 */
export function ensureSecretFile(path: string, generate: () => string = generateSecret): { value: string; created: boolean } {
  try {
    return { value: readSecretFile(path), created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const value = generate();
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(aside, 'wx', 0o600);
  try {
    writeSync(fd, value);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(aside, path);
    return { value, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { value: readSecretFile(path), created: false };
  } finally {
    unlinkSync(aside);
  }
}
