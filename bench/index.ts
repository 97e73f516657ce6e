/**
 * The benchmark's public surface: what `hayate bench` calls. The rest of bench/ is its own business; it
 * reaches hayate only from the outside (processes, NATS, HTTP).
 */
export type { BenchIo, BenchOptions, BenchResults } from './bench';
export { runBench } from './bench';
