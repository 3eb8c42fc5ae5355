import os from 'node:os';

/**
 * Lowers this process's CPU priority to `nice` (Unix nice, 0–19). The dashboard is the process users and
 * attackers can load at will; at a lower priority its work waits for the writer and Postgres on a shared
 * machine instead of taking their cores. It never raises a priority (that needs privileges), so a
 * process started lower stays there.
 */
export function lowerCpuPriority(nice: number): { from: number; to: number } {
  const from = os.getPriority();
  if (nice <= from) return { from, to: from };
  os.setPriority(nice);
  return { from, to: os.getPriority() };
}
