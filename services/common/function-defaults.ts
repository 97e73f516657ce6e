/**
 * The one place where a function's unset limits take the node's defaults (SPEC §2). The controller applies
 * it at deploy, so stored specs carry their limits; the invoker applies it again to every spec it reads, so
 * a spec stored by an older controller (or written straight into the KV) is never run with a limit of 0.
 */
import type { FunctionSpec } from './codec';
import type { FunctionDefaults } from './config';

type Limits = Pick<FunctionSpec, 'memoryMb' | 'timeoutMs' | 'maxInputBytes' | 'maxOutputBytes' | 'maxStderrBytes'>;

/**
 * `spec` with every limit that is 0 (unset) replaced by its default. `maxConcurrency` 0 stays 0: it means
 * "the node's share", decided by the invoker at run time.
 */
export function withDefaults<S extends Limits>(spec: S, d: Readonly<FunctionDefaults>): S {
  return {
    ...spec,
    memoryMb: spec.memoryMb || d.memoryMb,
    timeoutMs: spec.timeoutMs || d.timeoutMs,
    maxInputBytes: spec.maxInputBytes || d.maxInputBytes,
    maxOutputBytes: spec.maxOutputBytes || d.maxOutputBytes,
    maxStderrBytes: spec.maxStderrBytes || d.maxStderrBytes,
  };
}
