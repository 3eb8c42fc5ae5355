import type { Command } from './command.js';
import { composeSecretsCommand } from './compose-secrets.js';
import { dashboardPasswordCommand } from './dashboard-password.js';
import { dataEnvironmentCommand } from './data-environment.js';
import { demoCommand } from './demo.js';
import { doctorCommand } from './doctor.js';
import { backfillCommand, gapsCommand, runNowCommand } from './maintenance.js';
import { envDocsCommand } from './env-docs.js';
import { exportCommand } from './export.js';
import { migrateCommand } from './migrate.js';
import { reportCommand } from './report.js';
import { serviceCommand } from './service.js';
import { startCommand } from './start.js';
import { verifyCommand } from './verify.js';

export const commands: Record<string, Command> = {
  backfill: backfillCommand,
  'compose-secrets': composeSecretsCommand,
  'dashboard-password': dashboardPasswordCommand,
  'data-environment': dataEnvironmentCommand,
  demo: demoCommand,
  doctor: doctorCommand,
  'env-docs': envDocsCommand,
  export: exportCommand,
  gaps: gapsCommand,
  migrate: migrateCommand,
  report: reportCommand,
  'run-now': runNowCommand,
  service: serviceCommand,
  start: startCommand,
  verify: verifyCommand,
};

