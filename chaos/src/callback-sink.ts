import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Where Twilio's status callbacks go during a chaos run. The callback URL is how the delivery id travels to Twilio
 * (and so into the simulator's record); nothing consumes the callbacks until a reconciler exists.
 */
export async function startCallbackSink(): Promise<{ url: string; received: () => number; close: () => Promise<void> }> {
  let received = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      received++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/twilio/status`,
    received: () => received,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
