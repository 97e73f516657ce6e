/* Configuration of Debian's unmodified Lua 5.4 sources for wasm32-wasi (forced with -include).
   WebAssembly without the exception-handling proposal has no setjmp/longjmp: a raised Lua error
   cannot unwind to a pcall, so it ends the program with the message on stderr and exit code 1. */
#ifndef HAYATE_LUA_WASI_H
#define HAYATE_LUA_WASI_H
struct lua_State;
_Noreturn void hayate_lua_throw(struct lua_State *L, int status);
#define LUAI_THROW(L, c) hayate_lua_throw(L, (c)->status)
#define LUAI_TRY(L, c, a) { a }
#define luai_jmpbuf int
/* os.tmpname: POSIX mkstemp under /tmp (the writable directory of every invocation) */
#define LUA_TMPNAMBUFSIZE 32
#define lua_tmpnam(b, e) { strcpy(b, "/tmp/lua_XXXXXX"); e = mkstemp(b); if (e != -1) close(e); e = (e == -1); }
int system(const char *command);
int mkstemp(char *template);
int close(int fd);
#endif
