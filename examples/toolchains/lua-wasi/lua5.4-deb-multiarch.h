/* Made by Debian's debian/rules at build time; luaconf.h takes the C module path from it. The function
   has no C modules (no dlopen in WASI), so the value only shapes package.cpath. */
#ifndef _LUA_DEB_MULTIARCH_
#define _LUA_DEB_MULTIARCH_
#define DEB_HOST_MULTIARCH "wasm32-wasi"
#endif
