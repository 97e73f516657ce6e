/**
 * Makes protobufjs decode 64-bit integers as JS numbers, not `Long` objects: hayate's uint64 fields are
 * timestamps, byte counts and microseconds, all far below 2^53. Must load before the generated codec,
 * whose message prototypes read `util.Long` once at load time.
 */
import * as protobuf from 'protobufjs/minimal';

(protobuf.util as { Long: unknown }).Long = undefined;
protobuf.configure();
