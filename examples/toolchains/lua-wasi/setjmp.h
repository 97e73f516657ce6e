/* wasi-libc has no setjmp/longjmp (WebAssembly without exception handling): Lua's error jumps are
   replaced by hayate-lua-wasi.h, so nothing here is needed. */
