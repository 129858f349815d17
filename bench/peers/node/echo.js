// Echo server: write back every chunk as it arrives.
//
//   node echo.js PORT
'use strict';
const net = require('net');

const port = Number(process.argv[2] || 9000);
net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('data', (chunk) => socket.write(chunk));
  socket.on('error', () => socket.destroy());
}).listen(port, '127.0.0.1');
