/**
 * Function bundles on the controller (SPEC §2, §5): `PUT /v1/bundles` takes a tar, checks it and stores it
 * by digest; a deploy names it with `files=<digest>`, `files_path` and `files_writable`.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { NatsConnection } from 'nats';
import { BUNDLE_RESERVED_ROOT_NAMES, indexBundle } from '../common/bundle-tar';
import { BundleStore, isDigest } from '../common/bundle-store';
import type { FunctionSpec } from '../common/codec';
import type { Config } from '../common/config';
import { HayateError } from '../common/errors';
import type { Logger } from '../common/logger';
import { connectNats } from '../common/nats-connect';
import type { DeployQuery } from './deploy-query';
import { singleOption } from './deploy-query';

/** The spec fields of a function's files. */
export type FilesSpec = Pick<FunctionSpec, 'filesDigest' | 'filesBytes' | 'filesPath' | 'filesWritable'>;

const MiB = 1024 * 1024;
const NO_FILES: FilesSpec = { filesDigest: '', filesBytes: 0, filesPath: '', filesWritable: false };
/** A mount point: absolute, normalised, no `.`/`..`, no trailing slash (but `/`). */
const MOUNT_PATH = /^\/$|^(\/[^/\0]+)+$/;

/**
 * Checks a `files_path`: where the files appear in both tiers.
 * @throws HayateError HAYATE_ERR_INVALID_OPTION when it is not an absolute, normalised path, or lies in `/tmp`,
 *   `/dev` or a path the container tier keeps for itself
 */
export function checkFilesPath(path: string): string {
  const parts = path.split('/').slice(1);
  if (path.length > 1024 || !MOUNT_PATH.test(path) || parts.some((p) => p === '.' || p === '..' || Buffer.byteLength(p) > 255)) {
    throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid option files_path=${JSON.stringify(path)}: expected an absolute path such as /srv/data, without . or .. or a trailing /`);
  }
  const top = parts[0] ?? '';
  if (path !== '/' && (BUNDLE_RESERVED_ROOT_NAMES as readonly string[]).includes(top)) {
    throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid option files_path=${JSON.stringify(path)}: /${top} is kept by hayate (${BUNDLE_RESERVED_ROOT_NAMES.map((n) => `/${n}`).join(', ')})`);
  }
  return path;
}

/** The bundle routes and the deploy options that name a bundle. */
export interface BundleRoutes {
  /**
   * The files part of a spec from a deploy's query (`files`, `files_path`, `files_writable`).
   * @throws HayateError HAYATE_ERR_INVALID_OPTION for a malformed option or files_writable with an image,
   *   HAYATE_ERR_BUNDLE_NOT_FOUND when no bundle of that digest was uploaded, HAYATE_ERR_PAYLOAD_TOO_LARGE when
   *   the bundle is over HAYATE_MAX_BUNDLE_MB
   */
  filesOf(q: DeployQuery, spec: Pick<FunctionSpec, 'image'>): Promise<FilesSpec>;
}

/**
 * Registers `PUT /v1/bundles` on the controller's app (its body limit is the bundle limit, not the module's).
 * @param deps.config NATS URL and store options: the bundles bucket is opened on first use, on its own connection
 */
export function registerBundles(app: FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>, deps: { config: Readonly<Config>; log: Logger }): BundleRoutes {
  const { config } = deps;
  // uploads (up to 256 MiB) go on a connection of their own, opened on first use: on the controller's, their
  // chunks would queue ahead of invocations and their answers
  let bulk: Promise<NatsConnection> | null = null;
  let opened: Promise<BundleStore> | null = null;
  const bundles = (): Promise<BundleStore> => {
    opened ??= (async () => {
      bulk ??= connectNats(config.natsUrl, 'hayate-controller-bundles', deps.log);
      return BundleStore.open(await bulk, { replicas: config.replicas, domain: config.jsDomain });
    })().catch((err: unknown) => {
      opened = null;
      throw err;
    });
    return opened;
  };
  app.addHook('onClose', async () => {
    await (await bulk?.catch(() => null))?.drain();
  });
  const limit = `${config.maxBundleBytes} bytes (HAYATE_MAX_BUNDLE_MB=${config.maxBundleBytes / MiB})`;

  app.put('/v1/bundles', {
    bodyLimit: config.maxBundleBytes,
    errorHandler: (error, _req, reply) => {
      if (error.code !== 'FST_ERR_CTP_BODY_TOO_LARGE') throw error;
      const tooLarge = new HayateError('HAYATE_ERR_PAYLOAD_TOO_LARGE', `Cannot accept bundle as it is larger than ${limit}`);
      return reply.code(tooLarge.httpStatus).type('application/json').send({ error: tooLarge.toJSON() });
    },
  }, async (req, reply) => {
    const body = req.body;
    if (!Buffer.isBuffer(body) || body.byteLength === 0) throw new HayateError('HAYATE_ERR_INVALID_BUNDLE', 'Cannot accept bundle as the request has no tar in its body (send it as application/x-tar)');
    const index = await indexBundle(body);
    const ref = await (await bundles()).put(body);
    req.log.info({ digest: ref.digest, bytes: ref.bytes, files: index.files, entries: index.entries }, 'bundle stored');
    return reply.code(201).send({ digest: ref.digest, bytes: ref.bytes, files: index.files });
  });

  return {
    async filesOf(q, spec) {
      const digest = singleOption(q, 'files') ?? '';
      const path = singleOption(q, 'files_path');
      const writable = singleOption(q, 'files_writable') ?? '';
      if (!['', 'true', 'false', '1', '0'].includes(writable)) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid option files_writable=${JSON.stringify(writable)}: expected true or false`);
      if (digest === '') {
        if (path !== undefined || writable !== '') throw new HayateError('HAYATE_ERR_INVALID_OPTION', 'Invalid options files_path/files_writable: they need files=<digest> (upload the tar with PUT /v1/bundles)');
        return NO_FILES;
      }
      if (!isDigest(digest)) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid option files=${JSON.stringify(digest)}: expected the sha256 hex digest PUT /v1/bundles answered`);
      const filesWritable = writable === 'true' || writable === '1';
      if (filesWritable && spec.image !== '') {
        throw new HayateError('HAYATE_ERR_INVALID_OPTION', 'Invalid option files_writable=true with an image: the container tier mounts files read-only, so a writable bundle runs in WASM only (deploy without image)');
      }
      const filesPath = checkFilesPath(path ?? '/');
      const ref = await (await bundles()).info(digest);
      if (ref === null) throw new HayateError('HAYATE_ERR_BUNDLE_NOT_FOUND', `Cannot deploy function as bundle ${digest} was never uploaded (PUT /v1/bundles first)`);
      if (ref.bytes > config.maxBundleBytes) throw new HayateError('HAYATE_ERR_PAYLOAD_TOO_LARGE', `Cannot deploy function as bundle ${digest} has ${ref.bytes} bytes, more than ${limit}`);
      return { filesDigest: digest, filesBytes: ref.bytes, filesPath, filesWritable };
    },
  };
}

/** The public JSON form of a spec's files (empty when it has none). */
export function filesView(spec: FunctionSpec): Record<string, unknown> {
  if (spec.filesDigest === '') return {};
  return { files: spec.filesDigest, files_bytes: spec.filesBytes, files_path: spec.filesPath || '/', files_writable: spec.filesWritable };
}
