// Child process for the crash tests: runs one rollback or recover() on compiled code so the parent can SIGKILL it; never used outside tests.

// Usage: node rollback-child.mjs <buildRoot> <dataDir> <rollback|recover> [sessionId backupName workspace]
import { join } from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

const [buildRoot, dataDir, mode, sessionId, backupName, workspace] = process.argv.slice(2);
const load = (rel) => import(pathToFileURL(join(buildRoot, rel)).href);
const { openDb } = await load('src/store/db.js');
const { BackupService } = await load('src/backups/service.js');

const db = openDb(join(dataDir, 'sandbox.db'));
const service = new BackupService({ db, dataDir, categorize: () => ({ category: 'other' }) });
process.stdout.write(`${mode}\n`); // the crash tests time their kills from here
const result =
  mode === 'recover' ? await service.recover() : await service.rollback(sessionId, backupName, workspace);
process.stdout.write(JSON.stringify(result));
await service.idle();
db.close();
