// Runs the PeerJS server (npm package "peer") for duet's benchmarks with
// limits raised so that the generator, not a cap, decides the load:
//   node server.mjs [host] [port]      (port 0: any free port)
// It prints "peerjs listening on HOST:PORT" once ready.
import { PeerServer } from "peer";

const host = process.argv[2] || "127.0.0.1";
const port = Number(process.argv[3] || 0);
PeerServer(
  {
    host,
    port,
    path: "/",
    key: "peerjs",
    concurrent_limit: 1000000,
    alive_timeout: 120000,
    expire_timeout: 5000,
  },
  (server) => {
    const a = server.address();
    console.log(`peerjs listening on ${host}:${a.port}`);
  },
);
