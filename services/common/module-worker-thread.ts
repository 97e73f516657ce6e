/**
 * The thread behind `ModuleWorker`: validates, measures and compiles modules off the event loop (issue 11,
 * finding 8: a 60 MB data segment held the controller's and the invokers' event loops for about a second
 * in `WebAssembly.validate`, `new WebAssembly.Module` and the synchronous part of `WebAssembly.compile`).
 */
import { parentPort } from 'node:worker_threads';
import { toHayateError } from './errors';
import { measureModule } from './module-bounds';
import { compileForRun } from './module-worker';
import type { ModuleTask, ModuleTaskResult } from './module-worker';
import { inspectModule } from './wasm-module';

async function perform(task: ModuleTask): Promise<ModuleTaskResult> {
  switch (task.kind) {
    case 'inspect':
      return { kind: 'inspected', shape: inspectModule(task.bytes), footprint: measureModule(task.bytes) };
    case 'compile':
      return { kind: 'compiled', ...(await compileForRun(task.bytes, task.memoryMb, task.meter)) };
    default: {
      const never: never = task;
      throw new Error(`unknown module task ${JSON.stringify(never)}`);
    }
  }
}

const port = parentPort;
if (port === null) throw new Error('module worker must run in a worker thread');
port.on('message', (msg: { id: number; task: ModuleTask }) => {
  perform(msg.task).then(
    (result) => port.postMessage({ id: msg.id, result }),
    (err: unknown) => port.postMessage({ id: msg.id, error: toHayateError(err).toJSON() }),
  );
});
