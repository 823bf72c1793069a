'use strict';

// Drives sofa-bolt-node against boltrpc; run by interop_test.go.
//   node interop.js contents       print the hessian content of the test request and response as JSON hex
//   node interop.js client ADDR    run the client checks against a Go server at ADDR
//   node interop.js server         serve on 127.0.0.1:0, print "listening PORT", exit when stdin closes

const net = require('net');
const pump = require('pump');
const protocol = require('sofa-bolt-node');
const frames = require('sofa-bolt-node/lib/protocol');

const SERVICE = 'com.example.EchoService:1.0';

function request(name, extra) {
  return Object.assign({
    args: [{ $class: 'java.lang.String', $: name }],
    serverSignature: SERVICE,
    methodName: 'sayHello',
    timeout: 3000,
  }, extra);
}

const encodeOptions = { protocolType: 'bolt', codecType: 'hessian2', boltVersion: 1, crcEnable: false };

// contentOf returns the content bytes of an encoded v1 frame as hex.
function contentOf(frame) {
  const hl = frame[1] === 0 ? 20 : 22;
  const contentLen = frame.readInt32BE(hl - 4);
  return frame.slice(frame.length - contentLen).toString('hex');
}

function contents() {
  const req = contentOf(frames.requestEncode(2, request('peter'), encodeOptions));
  const res = contentOf(frames.responseEncode(2, {
    isError: false,
    appResponse: { $class: 'java.lang.String', $: 'hello peter' },
  }, encodeOptions));
  process.stdout.write(JSON.stringify({ request: req, response: res }) + '\n');
}

function fail(msg) {
  process.stderr.write('interop: ' + msg + '\n');
  process.exit(1);
}

function client(addr) {
  const [ host, port ] = addr.split(':');
  const sentReqs = new Map();
  const encoder = protocol.encoder({ sentReqs });
  const decoder = protocol.decoder({ sentReqs });
  const socket = net.connect(Number(port), host);
  pump(encoder, socket, decoder, err => {
    if (err) fail('stream: ' + err.stack);
  });
  setTimeout(() => fail('timed out waiting for answers'), 20000).unref();

  const waiting = new Map(); // packetId -> resolve
  const expect = id => new Promise(resolve => waiting.set(id, resolve));
  const settle = (kind, packet) => {
    const resolve = waiting.get(packet.packetId);
    if (!resolve) fail(`unexpected ${kind} for packet ${packet.packetId}`);
    waiting.delete(packet.packetId);
    resolve({ kind, packet });
  };
  decoder.on('heartbeat_ack', p => settle('heartbeat_ack', p));
  decoder.on('response', p => settle('response', p));

  (async () => {
    let got = expect(1);
    encoder.writeHeartbeat(1, { clientUrl: 'interop' });
    let { kind } = await got;
    if (kind !== 'heartbeat_ack') fail('heartbeat answered with ' + kind);

    got = expect(2);
    encoder.writeRequest(2, request('peter'));
    let { packet } = await got;
    if (!packet.data || packet.data.appResponse !== 'hello peter') {
      fail('request 2: ' + JSON.stringify(packet.data));
    }

    encoder.writeRequest(3, request('oneway', { oneway: true }));

    got = expect(4);
    encoder.writeRequest(4, request('fail'));
    ({ packet } = await got);
    if (!packet.data || !packet.data.error) fail('request 4 should fail: ' + JSON.stringify(packet.data));

    process.stdout.write('ok\n');
    socket.end();
  })().catch(err => fail(err.stack));
}

function server() {
  const srv = net.createServer(socket => {
    const sentReqs = new Map();
    const encoder = protocol.encoder({ sentReqs });
    const decoder = protocol.decoder({ sentReqs });
    pump(encoder, socket, decoder, () => {});
    decoder.on('request', req => {
      encoder.writeResponse(req, {
        isError: false,
        appResponse: { $class: 'java.lang.String', $: 'hello ' + req.data.args[0] },
      });
    });
    decoder.on('heartbeat', hb => encoder.writeHeartbeatAck(hb));
  });
  srv.listen(0, '127.0.0.1', () => {
    process.stdout.write('listening ' + srv.address().port + '\n');
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

switch (process.argv[2]) {
  case 'contents': contents(); break;
  case 'client': client(process.argv[3]); break;
  case 'server': server(); break;
  default: fail('usage: node interop.js contents|client ADDR|server');
}
