// HTTP server on Node's http module, the two routes of
// bench/suites/http_server.py:
//
//   node http.js PORT
//
// GET / answers "Hello, World!" as text/plain; GET /json serialises
// {message: "Hello, World!"} with JSON.stringify for every request.
'use strict';
const http = require('http');

const port = Number(process.argv[2] || 8080);
http.createServer((req, res) => {
  if (req.url === '/json') {
    const body = JSON.stringify({ message: 'Hello, World!' });
    res.writeHead(200, { 'Content-Type': 'application/json',
                         'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  } else {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8',
                         'Content-Length': 13 });
    res.end('Hello, World!');
  }
}).listen(port, '127.0.0.1');
