// `npm run password`: sets the login for the editor, the dashboard and the API. Asks for the
// password twice on a terminal, or reads one line from stdin when piped
// (`printf '%s\n' "$PW" | npm run password`); never takes it as an argument (it would show in
// `ps`). Writes { user, hash } (bcrypt, from the bcryptjs Node-RED ships) to
// <user dir>/equalnet-credentials.json, readable by its owner only (0600).
//
//   npm run password [-- --user NAME] [-- --user-dir DIR]     (user dir: $EQUALNET_USER_DIR or .node-red/)
import { chmodSync, chownSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CREDENTIALS_FILE, PROJECT_ROOT, requireFromNodeRed } from './node-red-home';

const MIN_LENGTH = 8;
const MAX_BYTES = 72; // bcrypt ignores what comes after 72 bytes
const BCRYPT_COST = 10;

function fail(message: string): never {
  console.error(`EqualNet: ${message}`);
  process.exit(1);
}

function parseArgs(argv: string[]): { user: string; userDir: string } {
  let user = 'admin';
  let userDir = process.env.EQUALNET_USER_DIR ?? join(PROJECT_ROOT, '.node-red');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--user' && value !== undefined) (user = value), i++;
    else if (arg === '--user-dir' && value !== undefined) (userDir = value), i++;
    else if (arg === '--help' || arg === '-h') {
      console.log('usage: npm run password [-- --user NAME] [-- --user-dir DIR]   (the password is asked for, or read from stdin)');
      process.exit(0);
    } else fail(`unknown argument ${JSON.stringify(arg)} (the password is never an argument: it is asked for, or read from stdin)`);
  }
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(user)) fail(`--user must be 1 to 64 characters of A-Z a-z 0-9 . _ -, got ${JSON.stringify(user)}`);
  return { user, userDir };
}

export function passwordProblem(password: string): string | undefined {
  if (password.length < MIN_LENGTH) return `the password must have at least ${MIN_LENGTH} characters`;
  if (Buffer.byteLength(password, 'utf8') > MAX_BYTES) return `the password must be at most ${MAX_BYTES} bytes (bcrypt ignores the rest)`;
  if (/[\0-\x1f\x7f]/.test(password)) return 'the password must not contain control characters';
  return undefined;
}

/** One line from a terminal without echo. */
function askHidden(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const stdin = process.stdin;
    process.stdout.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    let line = '';
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          stdin.off('data', onData);
          stdin.setRawMode(false);
          stdin.pause();
          process.stdout.write('\n');
          resolve(line);
          return;
        }
        if (ch === '\u0003') {
          stdin.setRawMode(false);
          process.stdout.write('\n');
          process.exit(130);
        }
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
        else line += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** The first line of stdin (piped). */
async function readStdinLine(): Promise<string> {
  let data = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) {
    data += chunk;
    if (data.includes('\n') || data.length > 4096) break;
  }
  return data.split(/\r?\n/)[0] ?? '';
}

async function main(): Promise<void> {
  const { user, userDir } = parseArgs(process.argv.slice(2));
  let password: string;
  if (process.stdin.isTTY) {
    password = await askHidden(`Password for "${user}": `);
    const problem = passwordProblem(password);
    if (problem) fail(problem);
    if ((await askHidden('Again: ')) !== password) fail('the two passwords differ; nothing changed');
  } else {
    password = await readStdinLine();
    const problem = passwordProblem(password);
    if (problem) fail(`${problem}; nothing changed`);
  }
  const bcrypt = requireFromNodeRed<{ hashSync(p: string, cost: number): string }>('bcryptjs');
  const hash = bcrypt.hashSync(password, BCRYPT_COST);

  mkdirSync(userDir, { recursive: true, mode: 0o700 });
  const file = join(userDir, CREDENTIALS_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify({ user, hash }, null, 2) + '\n', { mode: 0o600 });
  chmodSync(temp, 0o600); // whatever the umask
  // root setting the login of a service user's directory: the file belongs to the directory's owner
  const owner = statSync(userDir);
  if (process.getuid?.() === 0 && owner.uid !== 0) chownSync(temp, owner.uid, owner.gid);
  renameSync(temp, file);
  console.log(`EqualNet: login "${user}" saved in ${file} (bcrypt hash, readable by its owner only).`);
  console.log('EqualNet: it protects the editor, the dashboard and /api; restart Node-RED (npm start, or systemctl restart equalnet) to use it.');
}

if (require.main === module) {
  main().catch((err: Error) => fail(err.message));
}
