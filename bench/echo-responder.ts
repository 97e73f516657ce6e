/**
 * A bare nats.js echo responder in a process of its own, for the bench's cross-process floor (floors.ts):
 * `node echo-responder.js <nats-url> <subject>`. Prints `ready` once subscribed; closes on SIGTERM.
 */
import { connect } from 'nats';

async function main(): Promise<void> {
  const [servers, subject] = process.argv.slice(2);
  if (servers === undefined || subject === undefined) throw new Error('Usage: echo-responder.js <nats-url> <subject>');
  const nc = await connect({ servers });
  nc.subscribe(subject, { callback: (_err, msg) => msg.respond(msg.data) });
  await nc.flush();
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => void nc.close().finally(() => process.exit(0)));
}

main().catch((err: unknown) => {
  process.stderr.write(`echo-responder: ${String(err)}\n`);
  process.exit(1);
});
