// Preloaded into the peer's Node.js (node --import ./loopback.mjs): Portkey's gateway has no
// option for the address it listens on and @hono/node-server listens on every interface when
// given none, so every server of this process is put on 127.0.0.1 (the bench, like the rest of
// dual-nova, binds loopback only). A listen that names an address keeps it.
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const a = args[0];
  if (a !== null && typeof a === 'object' && !Array.isArray(a)) {
    if (a.path === undefined && a.host === undefined) args[0] = { ...a, host: '127.0.0.1' };
  } else if (typeof a === 'number' || (typeof a === 'string' && /^\d+$/.test(a))) {
    if (typeof args[1] !== 'string') {
      if (args[1] === undefined || args[1] === null) args[1] = '127.0.0.1';
      else args.splice(1, 0, '127.0.0.1');
    }
  }
  return listen.apply(this, args);
};
