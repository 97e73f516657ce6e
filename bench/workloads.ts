/**
 * The seed evaluation's tasks "of several sizes": trivial (upper), input-bound (sha256) and compute-bound
 * (primes, and matmul, the vectorisable case where native code should win).
 */
import { randomBytes } from 'node:crypto';

export interface WorkloadSize {
  /** Shown in tables: "1 KB", "N=256". */
  label: string;
  input: Buffer;
  args: string[];
}

export interface Workload {
  name: 'upper' | 'sha256' | 'primes' | 'matmul';
  /** The example function it runs. */
  example: string;
  kind: 'trivial' | 'input-bound' | 'compute-bound';
  sizes: WorkloadSize[];
}

/** `bytes` of readable text, the trivial task's input. */
export const text = (bytes: number): Buffer => Buffer.from('hello, edge! '.repeat(Math.ceil(bytes / 13)).slice(0, bytes));

/** Every workload at 3 sizes; `quick` keeps the smallest and the largest that run fast. */
export function workloads(quick: boolean): Workload[] {
  const all: Workload[] = [
    { name: 'upper', example: 'upper', kind: 'trivial', sizes: [{ label: '16 B', input: text(16), args: [] }, { label: '1 KB', input: text(1024), args: [] }, { label: '64 KB', input: text(65536), args: [] }] },
    { name: 'sha256', example: 'sha256', kind: 'input-bound', sizes: [{ label: '1 KB', input: randomBytes(1024), args: [] }, { label: '1 MB', input: randomBytes(1 << 20), args: [] }, { label: '5 MB', input: randomBytes(5 << 20), args: [] }] },
    { name: 'primes', example: 'primes', kind: 'compute-bound', sizes: [{ label: 'N=1e4', input: Buffer.alloc(0), args: ['10000'] }, { label: 'N=1e5', input: Buffer.alloc(0), args: ['100000'] }, { label: 'N=1e6', input: Buffer.alloc(0), args: ['1000000'] }] },
    { name: 'matmul', example: 'matmul', kind: 'compute-bound', sizes: [{ label: 'N=128', input: Buffer.alloc(0), args: ['128'] }, { label: 'N=256', input: Buffer.alloc(0), args: ['256'] }, { label: 'N=384', input: Buffer.alloc(0), args: ['384'] }] },
  ];
  if (!quick) return all;
  const keep: Record<string, string[]> = { upper: ['16 B'], sha256: ['1 KB', '1 MB'], primes: ['N=1e5'], matmul: ['N=256'] };
  return all.map((w) => ({ ...w, sizes: w.sizes.filter((s) => keep[w.name]?.includes(s.label)) }));
}
