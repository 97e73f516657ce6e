/**
 * Deploy checks of issue 11, finding 8: env values with NUL, and Docker images outside the operator's
 * allowlist (refused at deploy, and again by the invoker before it starts a container).
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import Docker from 'dockerode';
import pino from 'pino';
import { DEFAULTS } from '../services/common/config';
import { HayateError } from '../services/common/errors';
import { parseFunctionName } from '../services/common/names';
import { buildSpec } from '../services/controller/deploy-options';
import { ContainerExecutor } from '../services/invoker/executors/container/container-executor';
import { exampleWasm } from './helpers/paths';

const upper = readFileSync(exampleWasm('upper'));
const deploy = (query: Record<string, string>, prefixes = DEFAULTS.imagePrefixes) => buildSpec(parseFunctionName('f'), upper, query, DEFAULTS.functionDefaults, prefixes);

test('deploy refuses an env value with NUL with INVALID_OPTION when the guest would see it cut short', (t) => {
  const err = t.throws(() => deploy({ env: 'KEY=a\0b' }), { instanceOf: HayateError });
  t.is(err?.code, 'HAYATE_ERR_INVALID_OPTION');
  t.is(err?.httpStatus, 400);
  t.regex(err?.message ?? '', /env="KEY"=…: values cannot contain NUL/);
});

test('deploy refuses an image outside HAYATE_IMAGE_PREFIXES with 400 IMAGE_NOT_ALLOWED when another tenant could own it', (t) => {
  for (const image of ['alpine:3', 'docker.io/library/postgres', 'other-tenant/secret:1', 'hayat-example/upper']) {
    const err = t.throws(() => deploy({ image }), { instanceOf: HayateError }, image);
    t.is(err?.code, 'HAYATE_ERR_IMAGE_NOT_ALLOWED');
    t.is(err?.httpStatus, 400);
    t.regex(err?.message ?? '', /allowed prefixes: hayate-, hayate\//);
  }
  t.is(deploy({ image: 'hayate-example/upper:latest' }).image, 'hayate-example/upper:latest');
  t.is(deploy({ image: 'alpine:3' }, ['*']).image, 'alpine:3', '* allows any image');
});

test('container executor refuses an image outside its prefixes before it starts a container when the spec skipped the deploy check', async (t) => {
  // never contacted: the check comes before any Docker call
  const docker = new Docker({ socketPath: '/nonexistent/docker.sock' });
  const executor = new ContainerExecutor(docker, { invokerId: 'test', watchdogPath: '/nonexistent', runtimeDir: '/tmp/hayate-test-images' }, pino({ level: 'silent' }));
  const spec = { ...deploy({}), image: 'alpine:3', digest: 'd', version: 1, filesDigest: '', filesBytes: 0, filesPath: '', filesWritable: false };
  const err = await t.throwsAsync(executor.warm(spec), { instanceOf: HayateError });
  t.is(err?.code, 'HAYATE_ERR_IMAGE_NOT_ALLOWED');
  t.regex(err?.message ?? '', /Cannot run f in a container as image "alpine:3" is not allowed/);
});
