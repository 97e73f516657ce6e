/**
 * The container-only baseline the seed compares against: a cold `docker run --rm -i --network none` of the
 * same native image per call, timed in the seed's three steps (create+start, run, remove).
 */
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { usSince } from './stats';

export interface DockerRunResult {
  startupUs: number;
  execUs: number;
  teardownUs: number;
  e2eUs: number;
  stdout: Buffer;
  exitCode: number;
}

/** One cold run of `image` with `args`, `input` on stdin. */
export async function dockerRun(docker: Docker, image: string, args: string[], input: Buffer, memoryMb = 128): Promise<DockerRunResult> {
  const t0 = performance.now();
  const info = await docker.getImage(image).inspect();
  const container = await docker.createContainer({
    Image: image,
    Cmd: [...(info.Config.Cmd ?? []), ...args],
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    NetworkDisabled: true,
    Labels: { 'hayate.bench': 'docker-run' },
    HostConfig: { NetworkMode: 'none', ReadonlyRootfs: true, Memory: memoryMb * 1024 * 1024, MemorySwap: memoryMb * 1024 * 1024 },
  });
  const stream = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (d: Buffer) => chunks.push(d));
  docker.modem.demuxStream(stream, out, new PassThrough());
  await container.start();
  const t1 = performance.now();
  stream.end(input);
  const { StatusCode } = (await container.wait()) as { StatusCode: number };
  const t2 = performance.now();
  await container.remove({ force: true });
  const t3 = performance.now();
  return {
    startupUs: (t1 - t0) * 1000,
    execUs: (t2 - t1) * 1000,
    teardownUs: (t3 - t2) * 1000,
    e2eUs: usSince(t0),
    stdout: Buffer.concat(chunks),
    exitCode: StatusCode,
  };
}
