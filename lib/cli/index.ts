#!/usr/bin/env node
/**
 * bin `libmemcached` (`npx libmemcached get KEY`): reads the command line, runs one command
 * (./commands.ts, ./bench.ts) on a Client made from the connection flags, prints, and exits with
 * 0 (done), 1 (a key missing) or 2 (an error, including a usage mistake).
 */
import { parseArgs } from 'node:util';
import { MemcachedError } from '../errors';
import { benchCommand } from './bench';
import { COMMANDS, Command, Outcome } from './commands';
import { CONNECTION_FLAGS, CONNECTION_HELP, UsageError, clientFrom } from './options';

const ALL: Record<string, Command> = { ...COMMANDS, bench: benchCommand };

const HELP = `Usage: libmemcached COMMAND [ARGUMENTS] [OPTIONS]

Commands:
${Object.entries(ALL)
  .map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`)
  .join('\n')}

${CONNECTION_HELP}

Exit status: 0 done, 1 a key was missing (get, delete), 2 an error.
"libmemcached COMMAND --help" describes a command.
`;

function commandHelp(name: string, command: Command): string {
  return `Usage: libmemcached ${command.usage}\n\n${CONNECTION_HELP}\n`;
}

/** Everything a run needs from the process, so that tests can run it in one too. */
export interface Io {
  argv: string[];
  env: NodeJS.ProcessEnv;
  stdin: () => Promise<Buffer>;
}

/** Runs the command line `io.argv` (without node and the script) and says what to print. */
export async function run(io: Io): Promise<Outcome> {
  const [name, ...rest] = io.argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    if (topic !== undefined && ALL[topic]) return { stdout: [commandHelp(topic, ALL[topic])], stderr: [], status: 0 };
    return { stdout: [HELP], stderr: [], status: name === undefined ? 2 : 0 };
  }
  const command = Object.prototype.hasOwnProperty.call(ALL, name) ? ALL[name] : undefined;
  if (command === undefined) return { stdout: [], stderr: [`unknown command ${JSON.stringify(name)}; see libmemcached --help`], status: 2 };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options: { ...CONNECTION_FLAGS, ...(command.flags ?? {}) }, allowPositionals: true, strict: true });
  } catch (error) {
    return { stdout: [], stderr: [`${name}: ${(error as Error).message}; see libmemcached ${name} --help`], status: 2 };
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) return { stdout: [commandHelp(name, command)], stderr: [], status: 0 };
  let client;
  try {
    client = clientFrom(values, io.env);
  } catch (error) {
    return { stdout: [], stderr: [`${name}: ${(error as Error).message}`], status: 2 };
  }
  try {
    return await command.run({ client, args: parsed.positionals, values, json: values.json === true, stdin: io.stdin });
  } catch (error) {
    const message = error instanceof UsageError ? `${error.message}; see libmemcached ${name} --help` : (error as Error).message;
    const outcome: Outcome = { stdout: [], stderr: [message], status: 2 };
    if (values.json === true && error instanceof MemcachedError) outcome.stdout.push(`${JSON.stringify({ error: { name: error.name, code: error.code, message: error.message, server: error.server } }, null, 2)}\n`);
    return outcome;
  } finally {
    await client.close();
  }
}

function readStdin(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (chunk: Buffer) => chunks.push(chunk));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.on('error', reject);
  });
}

/** Writes everything, then sets the exit status (never process.exit: stdout may still be draining into a pipe). */
async function main(): Promise<void> {
  const outcome = await run({ argv: process.argv.slice(2), env: process.env, stdin: readStdin });
  for (const line of outcome.stderr) process.stderr.write(`libmemcached: ${line}\n`);
  for (const chunk of outcome.stdout) process.stdout.write(chunk);
  process.exitCode = outcome.status;
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`libmemcached: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 2;
  });
}
