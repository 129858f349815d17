// TLS echo server on Node's tls module: write back every chunk.
//
//   node tls_echo.js PORT CERT KEY
'use strict';
const fs = require('fs');
const tls = require('tls');

const [port, cert, key] = process.argv.slice(2);
tls.createServer({cert: fs.readFileSync(cert), key: fs.readFileSync(key)},
                 (socket) => {
  socket.setNoDelay(true);
  socket.on('data', (chunk) => socket.write(chunk));
  socket.on('error', () => socket.destroy());
}).listen(Number(port), '127.0.0.1');
